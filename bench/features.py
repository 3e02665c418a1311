"""Benchmark: point-in-time retrieval from the feature store (DuckDB ASOF join on the versioned Parquet file) against
pandas.merge_asof in memory, on the same data, in the same run.

    .venv/bin/python bench/features.py [--rows 1000000] [--entities 100000]

A feature view of about ROWS rows (ENTITIES entities, each with about ROWS/ENTITIES timestamped versions of 5
features) is stored with mlops_nb.feature_store.materialize beforehand; ROWS events (entity, time) are then joined with the features known at their
time. merge_asof needs both sides sorted by time, so its time includes the sort. Prints wall time and peak memory
(each case in its own process) and the ratio; both must match the same rows. Aim: at most 1.5x merge_asof.
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


def make_data(folder: Path, rows: int, entities: int):
    "A raw feature table and the events, written to Parquet."
    rng = np.random.default_rng(0)
    feats = pd.DataFrame({"entity_id": rng.integers(0, entities, rows),
                          "event_time": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24 * 60, rows), "min")})
    feats = feats.drop_duplicates(["entity_id", "event_time"])  # one value per entity and time: no ambiguous ties
    for i in range(5):
        feats[f"f{i}"] = rng.normal(size=len(feats))
    events = pd.DataFrame({"entity_id": rng.integers(0, entities, rows),
                           "event_time": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24 * 60, rows), "min")})
    feats.to_parquet(folder / "features.parquet", index=False)
    events.to_parquet(folder / "events.parquet", index=False)
    from mlops_nb.feature_store import materialize
    materialize(feats, folder / "store", "bench", [f"f{i}" for i in range(5)], {}, "bench-data", "entity_id", "event_time")


def run_store(folder: Path) -> dict:
    from mlops_nb.feature_store import get_view, point_in_time
    view = get_view(folder / "store", "bench")
    events = pd.read_parquet(folder / "events.parquet")
    start = time.perf_counter()
    out = point_in_time(events, view)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(out), "matched": int(out.f0.notna().sum()), "sum": float(out.f0.sum())}


def run_pandas(folder: Path) -> dict:
    feats = pd.read_parquet(folder / "features.parquet")
    events = pd.read_parquet(folder / "events.parquet")
    start = time.perf_counter()
    out = pd.merge_asof(events.sort_values("event_time"), feats.sort_values("event_time"), on="event_time",
                        by="entity_id", direction="backward")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(out), "matched": int(out.f0.notna().sum()), "sum": float(out.f0.sum())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--case", choices=["store", "pandas"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:  # one case, in its own process, so peak memory is its own
        result = (run_store if args.case == "store" else run_pandas)(Path(args.folder))
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as d:
        make_data(Path(d), args.rows, args.entities)
        results = {}
        for case in ("store", "pandas"):
            done = subprocess.run([sys.executable, __file__, "--case", case, "--folder", d], capture_output=True,
                                  text=True, check=True)
            results[case] = json.loads(done.stdout.strip().splitlines()[-1])
    s, p = results["store"], results["pandas"]
    print(f"\npoint-in-time join: {args.rows:,} events x {args.rows:,} feature rows ({args.entities:,} entities)")
    print(f"{'case':44} {'seconds':>8} {'peak MB':>8} {'matched':>9}")
    print(f"{'feature store (DuckDB ASOF on stored Parquet)':44} {s['seconds']:8.2f} {s['peak_mb']:8.0f} {s['matched']:9,}")
    print(f"{'pandas.merge_asof in memory (with its sort)':44} {p['seconds']:8.2f} {p['peak_mb']:8.0f} {p['matched']:9,}")
    same = s["rows"] == p["rows"] and s["matched"] == p["matched"] and abs(s["sum"] - p["sum"]) < 1e-6 * max(1, abs(p["sum"]))
    print(f"\nratio store / merge_asof: {s['seconds'] / p['seconds']:.2f} (aim <= 1.5); same matched rows: {same}")
    if not same:
        sys.exit("the two joins disagree")


if __name__ == "__main__":
    main()
