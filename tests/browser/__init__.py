"""Browser suite: widgets in a real JupyterLab driven by a real headless Chromium."""
