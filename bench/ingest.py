"""Benchmark: versioning a large CSV with mlops_nb.data.ingest (streamed through DuckDB, hashed and written to Parquet
batch by batch) against the naive way (pandas.read_csv of the whole file, then to_parquet), in the same run.

    .venv/bin/python bench/ingest.py [--mb 1000]

Generates a credit-like CSV of about MB megabytes, then runs each case in its own process and prints rows/s and peak
memory (max RSS). The aim: ingest's peak memory stays bounded, whatever the file size.
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def generate(path: Path, megabytes: int, chunk_rows: int = 500_000) -> int:
    "Write a CSV of credit-like rows until it holds about `megabytes` MB; the number of rows."
    rng, rows = np.random.default_rng(0), 0
    with open(path, "w") as f:
        while f.tell() < megabytes * 1e6:
            n = chunk_rows
            df = pd.DataFrame({
                "Status": rng.choice(["good", "bad"], n), "Seniority": rng.integers(0, 48, n),
                "Home": rng.choice(["rent", "owner", "parents", "priv", "other"], n), "Time": rng.integers(6, 72, n),
                "Age": rng.integers(18, 68, n), "Marital": rng.choice(["married", "single", "widow"], n),
                "Records": rng.choice(["no", "yes"], n), "Job": rng.choice(["fixed", "freelance", "partime"], n),
                "Expenses": rng.integers(35, 180, n), "Income": rng.normal(140, 60, n).round(1),
                "Assets": rng.integers(0, 300000, n), "Debt": rng.integers(0, 30000, n),
                "Amount": rng.integers(100, 5000, n), "Price": rng.integers(105, 11140, n)})
            df.to_csv(f, index=False, header=rows == 0)
            rows += n
    return rows


def case_ingest(csv: Path, out: Path) -> dict:
    from mlops_nb.data import ingest
    start = time.perf_counter()
    v = ingest(csv, out)
    return {"seconds": time.perf_counter() - start, "rows": v.rows, "id": v.id}


def case_pandas(csv: Path, out: Path) -> dict:
    start = time.perf_counter()
    df = pd.read_csv(csv)
    df.to_parquet(out / "whole.parquet", index=False)
    return {"seconds": time.perf_counter() - start, "rows": len(df), "id": ""}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=1000, help="size of the generated CSV, in MB")
    ap.add_argument("--case", choices=["ingest", "pandas"], help=argparse.SUPPRESS)
    ap.add_argument("--csv", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:  # one case in its own process, so that peak memory is its own
        result = (case_ingest if args.case == "ingest" else case_pandas)(Path(args.csv), Path(args.out))
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as d:
        csv = Path(d) / "big.csv"
        start = time.perf_counter()
        rows = generate(csv, args.mb)
        print(f"generated {csv.stat().st_size / 1e6:,.0f} MB, {rows:,} rows in {time.perf_counter() - start:.0f} s")
        results = {}
        for case in ("ingest", "pandas"):
            out = Path(d) / case
            out.mkdir()
            done = subprocess.run([sys.executable, __file__, "--case", case, "--csv", csv, "--out", out],
                                  capture_output=True, text=True, check=True)
            results[case] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{'case':46} {'seconds':>8} {'rows/s':>11} {'peak MB':>8}")
    for case, label in (("ingest", "mlops_nb.data.ingest (streamed, versioned)"),
                        ("pandas", "pandas read_csv + to_parquet (whole file)")):
        r = results[case]
        print(f"{label:46} {r['seconds']:8.1f} {r['rows'] / r['seconds']:11,.0f} {r['peak_mb']:8.0f}")
    print(f"\ndata version {results['ingest']['id']}, {results['ingest']['rows']:,} rows")


if __name__ == "__main__":
    main()
