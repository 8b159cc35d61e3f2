#!/bin/bash
set -e

echo "Starting analysis..."

# The demo needs only the standard library; a package that ships a requirements.txt
# gets its dependencies installed here.
if [ -f requirements.txt ]; then
    pip install -r requirements.txt
fi

python analyze.py

echo "Analysis complete!"
