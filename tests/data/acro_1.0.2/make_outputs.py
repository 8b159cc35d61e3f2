"""How ``outputs/`` beside this file was made: a real ACRO 1.0.2 session.

The output-check tests read the ``results.json`` that ACRO wrote; ACRO (with pandas and
statsmodels) is not a dependency of the tests. To remake the folder:

    python -m venv /tmp/acro && /tmp/acro/bin/pip install acro==1.0.2
    cd tests/data/acro_1.0.2 && rm -rf outputs && /tmp/acro/bin/python make_outputs.py

``output_0`` is a crosstab with two cells under ACRO's threshold (status ``fail``),
``output_1`` the same table with the small category merged (``pass``); ACRO adds its session
summaries (``review``).
"""

import numpy as np
import pandas as pd
from acro import ACRO

rng = np.random.default_rng(1)
n = 200
df = pd.DataFrame(
    {
        "sex": rng.choice(["F", "M"], n),
        "site": rng.choice(["north", "south", "east"], n, p=[0.49, 0.49, 0.02]),
        "age": rng.integers(20, 80, n),
    }
)
acro = ACRO(suppress=False)
acro.crosstab(df.sex, df.site)
acro.crosstab(df.sex, df.site.where(df.site != "east", "north"))
acro.add_comments("output_0", "site counts by sex")
acro.finalise("outputs", "json")
