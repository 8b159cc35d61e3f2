import numpy as np, pandas as pd
from acro import ACRO
rng = np.random.default_rng(1)
n = 200
df = pd.DataFrame({
    "sex": rng.choice(["F", "M"], n),
    "site": rng.choice(["north", "south", "east"], n, p=[0.49, 0.49, 0.02]),
    "age": rng.integers(20, 80, n),
})
acro = ACRO(suppress=False)
acro.crosstab(df.sex, df.site)
acro.crosstab(df.sex, df.site.where(df.site != "east", "north"))
acro.add_comments("output_0", "site counts by sex")
acro.finalise("outputs", "json")
