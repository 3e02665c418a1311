"""Benchmark: batch scoring of 1,000,000 rows with mlops_nb.scoring.score_file (a file in, a file out, in chunks, rows
checked, model version recorded) beside model.predict on the same rows already in memory (the limit), in the same run.

    .venv/bin/python bench/score.py [--rows 1000000] [--model-type hist_gradient_boosting]

Sets up a throw-away project whose registry holds one model (trained on generated credit-like rows, with the
reference pipeline's preprocessing and derived features), generates the rows to score as Parquet and CSV, then runs
each case in its own process and prints rows/s and peak memory (max RSS).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

NUMERIC = ["Seniority", "Time", "Age", "Expenses", "Income", "Assets", "Debt", "Amount", "Price"]
CATEGORICAL = ["Home", "Marital", "Records", "Job"]
DERIVED = {"loan_to_price": "Amount / Price", "debt_to_income": "Debt / Income",
           "installment_to_income": "Amount / Time / Income"}
NAME = "bench-credit"


def generate(n: int, seed: int) -> pd.DataFrame:
    "`n` credit-like rows with a label that depends on them."
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "Seniority": rng.integers(0, 48, n), "Home": rng.choice(["rent", "owner", "parents", "priv", "other"], n),
        "Time": rng.integers(6, 72, n), "Age": rng.integers(18, 68, n),
        "Marital": rng.choice(["married", "single", "widow"], n), "Records": rng.choice(["no", "yes"], n),
        "Job": rng.choice(["fixed", "freelance", "partime"], n), "Expenses": rng.integers(35, 180, n),
        "Income": rng.normal(140, 60, n).round(1), "Assets": rng.integers(0, 300000, n),
        "Debt": rng.integers(0, 30000, n), "Amount": rng.integers(100, 5000, n), "Price": rng.integers(105, 11140, n)})
    risk = (df.Amount / df.Price) + (df.Records == "yes") - df.Seniority / 40 + rng.normal(0, 0.5, n)
    return df.assign(Status=np.where(risk > 0.8, "bad", "good"))


def setup(root: Path, model_type: str):
    "A project at `root` whose registry's champion of NAME is a model fitted on generated rows."
    from mlops_nb.config import Project
    from mlops_nb.registry import client
    from mlops_nb.tracking import tracking
    from mlops_nb.train import fit, log_run
    project = Project(root)
    train = generate(20_000, 0)
    model = fit(train, "Status", "bad", NUMERIC, CATEGORICAL, DERIVED, model_type, 42)
    run = log_run(project, "bench", model, train[NUMERIC + CATEGORICAL], {"model_type": model_type}, {})
    version = tracking(project).register_model(run["model_uri"], NAME).version
    client(project).set_registered_model_alias(NAME, "champion", version)


def case_predict(root: Path, rows: int) -> dict:
    from mlops_nb.config import Project
    from mlops_nb.scoring import input_columns, load_model
    model, _ = load_model(Project(root), NAME)
    df = pd.read_parquet(root / "rows.parquet")[input_columns(model)]
    start = time.perf_counter()
    model.predict(df)
    return {"seconds": time.perf_counter() - start, "rows": len(df)}


def case_file(root: Path, rows: int, fmt: str) -> dict:
    from mlops_nb.config import Project
    from mlops_nb.scoring import score_file
    start = time.perf_counter()
    s = score_file(Project(root), root / f"rows.{fmt}", root / f"scored.{fmt}", NAME, positive_class="bad",
                   progress=False)
    return {"seconds": time.perf_counter() - start, "rows": s["scored"], "rejected": s["rejected"]}


CASES = {"predict": case_predict, "parquet": lambda r, n: case_file(r, n, "parquet"),
         "csv": lambda r, n: case_file(r, n, "csv")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows to score")
    ap.add_argument("--model-type", default="hist_gradient_boosting",
                    help="random_forest, hist_gradient_boosting or logistic_regression")
    ap.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # the throw-away project's own SQLite store
    if args.case:  # one case in its own process, so that peak memory is its own
        result = CASES[args.case](Path(args.root), args.rows)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    results = {}
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        start = time.perf_counter()
        setup(root, args.model_type)
        rows = generate(args.rows, 1).drop(columns="Status")
        rows.to_parquet(root / "rows.parquet", index=False)
        rows.to_csv(root / "rows.csv", index=False)
        print(f"set up a registered {args.model_type} model and {args.rows:,} rows to score "
              f"({(root / 'rows.csv').stat().st_size / 1e6:.0f} MB of CSV) in {time.perf_counter() - start:.0f} s")
        for case in CASES:
            done = subprocess.run([sys.executable, __file__, "--case", case, "--rows", str(args.rows), "--root", root],
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"case {case} failed:\n{done.stderr}")
            results[case] = json.loads(done.stdout.strip().splitlines()[-1])
    labels = {"predict": "model.predict, rows in memory (the limit)",
              "parquet": "score_file Parquet -> Parquet (chunks of 100k)",
              "csv": "score_file CSV -> CSV (chunks of 100k)"}
    limit = results["predict"]["rows"] / results["predict"]["seconds"]
    print(f"\n{'case':48} {'seconds':>8} {'rows/s':>11} {'of limit':>8} {'peak MB':>8}")
    for case, r in results.items():
        rate = r["rows"] / r["seconds"]
        print(f"{labels[case]:48} {r['seconds']:8.2f} {rate:11,.0f} {rate / limit:8.0%} {r['peak_mb']:8.0f}")


if __name__ == "__main__":
    main()
