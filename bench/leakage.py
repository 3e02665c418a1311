"""Benchmark: the leakage checks (mlops_nb.leakage.leakage_checks, as the features stage runs them) on 1,000,000 rows x
20 features, three of them planted leaks, beside the usual one-feature way with scikit-learn, in the same run.

    .venv/bin/python bench/leakage.py [--rows 1000000] [--no-peer] [--tiny]

The peers: roc_auc_score of each numeric feature (a rank AUC: it takes no category, and misses a U shape), and a
one-feature decision tree (32 leaves, categories ordinal-coded) fitted on one half and scored on the other, per
feature. Printed: wall time, and the features flagged against those planted. --tiny runs 20,000 rows (seconds, for CI).
"""
import argparse
import time

import numpy as np
import pandas as pd

NUMERIC = [f"n{i:02d}" for i in range(13)] + ["echo", "spend", "row_id"]
CATEGORICAL = [f"c{i:02d}" for i in range(4)]
PLANTED = {"echo": "the label with 1% noise", "spend": "0 for every 'bad' row (recorded after the decision)",
           "row_id": "a row counter"}


def generate(rows: int, seed: int = 0) -> tuple:
    "`rows` rows: 13 honest numbers of several shapes, 4 categories, and the PLANTED leaks; the label."
    rng = np.random.default_rng(seed)
    cols = {}
    for i in range(13):
        kind = i % 4
        cols[f"n{i:02d}"] = (rng.normal(100, 15, rows) if kind == 0 else rng.lognormal(3, 0.7, rows) if kind == 1
                             else rng.integers(0, 60, rows).astype(float) if kind == 2 else rng.exponential(2.0, rows))
    cols["n03"][rng.random(rows) < 0.05] = np.nan
    for i in range(4):
        cats = np.array([f"c{i}_{k}" for k in range(3 + 4 * i)], dtype=object)
        cols[f"c{i:02d}"] = cats[rng.integers(0, len(cats), rows)]
    df = pd.DataFrame(cols)
    risk = (df.n00 - 100) / 15 + (df.c01 == "c1_0") + rng.normal(0, 1, rows)  # n00 honest and strong
    bad = risk > 1
    df["echo"] = np.where(rng.random(rows) < 0.01, ~bad, bad).astype(float)
    df["spend"] = np.where(bad, 0.0, rng.gamma(2, 150, rows).round(2))
    df["row_id"] = np.arange(rows, dtype=float)
    return df[NUMERIC + CATEGORICAL], pd.Series(np.where(bad, "bad", "good"))


def mlops(df, y):
    import scipy.stats  # noqa: F401 (imported once per process, 1-2 s: not part of the check)
    from mlops_nb.leakage import leakage_checks
    start = time.perf_counter()
    found = leakage_checks(df, y, "bad", NUMERIC, CATEGORICAL)
    return time.perf_counter() - start, sorted(set(found.feature)), "every check"


def rank_auc(df, y):
    from sklearn.metrics import roc_auc_score
    hit = (y == "bad").to_numpy()
    start = time.perf_counter()
    flagged = []
    for c in NUMERIC:
        x = df[c].fillna(df[c].median())
        auc = roc_auc_score(hit, x)
        if max(auc, 1 - auc) > 0.95:
            flagged.append(c)
    return time.perf_counter() - start, sorted(flagged), "numeric features only"


def tree(df, y):
    from sklearn.metrics import roc_auc_score
    from sklearn.tree import DecisionTreeClassifier
    hit = (y == "bad").to_numpy()
    half = np.random.default_rng(2).random(len(df)) < 0.5
    start = time.perf_counter()
    flagged = []
    for c in NUMERIC + CATEGORICAL:
        s = df[c]
        numeric = pd.api.types.is_numeric_dtype(s)
        x = (s.fillna(-1e12).to_numpy() if numeric else pd.factorize(s)[0]).reshape(-1, 1)
        model = DecisionTreeClassifier(max_leaf_nodes=32, min_samples_leaf=20).fit(x[half], hit[half])
        if roc_auc_score(hit[~half], model.predict_proba(x[~half])[:, 1]) > 0.95:
            flagged.append(c)
    return time.perf_counter() - start, sorted(flagged), "single-feature AUC only"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--no-peer", action="store_true", help="skip the scikit-learn ways")
    ap.add_argument("--tiny", action="store_true", help="20,000 rows")
    args = ap.parse_args()
    rows = 20_000 if args.tiny else args.rows
    df, y = generate(rows)
    print(f"{rows:,} rows x {df.shape[1]} features ({len(NUMERIC)} numeric, {len(CATEGORICAL)} categorical); "
          f"planted: {', '.join(f'{c} ({how})' for c, how in PLANTED.items())}\n")
    cases = {"mlops_nb leakage_checks (every check)": mlops}
    if not args.no_peer:
        cases.update({"sklearn roc_auc_score per feature": rank_auc, "sklearn one-feature tree, half/half": tree})
    print(f"{'case':40} {'seconds':>8}  {'flagged':28} note")
    results = {}
    for name, case in cases.items():
        seconds, flagged, note = results[name] = case(df, y)
        print(f"{name:40} {seconds:8.2f}  {', '.join(flagged):28} {note}")
    flagged = set(results["mlops_nb leakage_checks (every check)"][1])
    print(f"\nmlops_nb flagged exactly the planted features: {flagged == set(PLANTED)}")


if __name__ == "__main__":
    main()
