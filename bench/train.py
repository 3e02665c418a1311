"""Benchmark: the default tuning budget of env.yaml, and tuning trials per minute serial vs parallel on this machine, in
the same run.

    .venv/bin/python bench/train.py [--trials 8]

Tunes on the training split of the bundled credit data with mlops_nb.train.tune (the same plan of trials in every
case), first with env.yaml's own budget, then TRIALS trials with n_jobs=1 and with n_jobs=2; prints wall times,
trials per minute and the speed-up.
"""
import argparse
import time
from pathlib import Path

import pandas as pd

from mlops_nb.config import load_params
from mlops_nb.prepare import clean, split
from mlops_nb.train import tune

REPO = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=8)
    args = ap.parse_args()
    a = load_params(REPO)
    df = pd.read_csv(REPO / a["data_path"])
    train, _ = split(clean(df, a["target"]), a["target"], a["test_size"], a["data_seed"])
    spec = {"numeric": a["numeric_features"], "categorical": a["categorical_features"], "derived": a["derived_features"]}
    fixed = {"class_weight": a["class_weight"]}

    def timed(n_trials, n_jobs, seconds=1e9):
        start = time.perf_counter()
        res = tune(train, a["target"], a["positive_class"], spec, a["candidates"], n_trials, seconds, a["cv_folds"],
                   a["seed"], n_jobs, "", "none", None, fixed, progress=False)
        return time.perf_counter() - start, len(res), float(res.cv_roc_auc.max())
    default = timed(a["tuning_trials"], a["n_jobs"], a["tuning_seconds"])
    serial, parallel = timed(args.trials, 1), timed(args.trials, 2)
    print(f"\ntuning on {len(train):,} training rows, {a['cv_folds']}-fold CV, candidates {', '.join(a['candidates'])}")
    print(f"{'case':44} {'seconds':>8} {'trials':>7} {'trials/min':>11} {'best AUC':>9}")
    for label, (sec, n, best) in ((f"default budget (env.yaml, n_jobs={a['n_jobs']})", default),
                                  ("serial (n_jobs=1)", serial), ("parallel (n_jobs=2)", parallel)):
        print(f"{label:44} {sec:8.1f} {n:7d} {60 * n / sec:11.1f} {best:9.4f}")
    print(f"\nspeed-up parallel / serial: {serial[0] / parallel[0]:.2f}x on {__import__('os').cpu_count()} cores")


if __name__ == "__main__":
    main()
