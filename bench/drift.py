"""Benchmark: a drift check of 1,000,000 rows x 20 features (a few of them shifted) against the reference profile
stored with a model (mlops_nb.monitoring.drift_report), beside the naive way that keeps the training rows (the
scipy.stats.ks_2samp / chi2_contingency / np.histogram per feature that drift checks usually do), in the same run.

    .venv/bin/python bench/drift.py [--rows 1000000] [--no-peer]

Each case runs in its own process, which generates the current rows (and, for the naive way, the reference rows
too) itself; it prints wall time of the check, peak memory (max RSS of the whole process, data included) and the
features flagged against those shifted. The aims: under 3.5 s and 0.8 GB, flagging exactly the shifted features.
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

NUMERIC = [f"n{i:02d}" for i in range(16)]
CATEGORICAL = [f"c{i:02d}" for i in range(4)]
SHIFTED = {"n03": "mean +0.5 sd", "n07": "scale x1.6", "n12": "10% more missing, mean +0.4 sd",
           "c02": "category shares changed"}


def generate(rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    "`rows` rows of 16 numeric and 4 categorical features; `shifted`: the SHIFTED features moved."
    rng = np.random.default_rng(seed)
    cols = {}
    for i, c in enumerate(NUMERIC):
        kind = i % 4
        x = (rng.normal(100, 15, rows) if kind == 0 else rng.lognormal(3, 0.7, rows) if kind == 1 else
             rng.integers(0, 60, rows).astype(float) if kind == 2 else rng.exponential(2.0, rows))
        if shifted and c == "n03":
            x = x + 0.5 * x.std()
        if shifted and c == "n07":
            x = x.mean() + (x - x.mean()) * 1.6
        if c == "n12":
            x = x + (0.4 * x.std() if shifted else 0)
            x[rng.random(rows) < (0.15 if shifted else 0.05)] = np.nan
        cols[c] = x
    for i, c in enumerate(CATEGORICAL):
        cats = np.array([f"{c}_{k}" for k in range(3 + 2 * i)], dtype=object)
        p = np.ones(len(cats)) / len(cats)
        if shifted and c == "c02":
            p = np.r_[0.45, np.full(len(cats) - 1, 0.55 / (len(cats) - 1))]
        cols[c] = cats[rng.choice(len(cats), rows, p=p)]
    return pd.DataFrame(cols)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_profile(rows: int, out: Path) -> dict:
    "The train stage's part: the reference profile of the training rows, as JSON."
    from mlops_nb.monitoring import profile
    ref = generate(rows, 1, False)
    start = time.perf_counter()
    prof = profile(ref, NUMERIC, CATEGORICAL)
    seconds = time.perf_counter() - start
    out.write_text(json.dumps(prof))
    return {"seconds": seconds, "flagged": [], "json_kb": out.stat().st_size / 1024}


def case_mlops(rows: int, profile_path: Path) -> dict:
    "The drift check against the stored profile: no training rows."
    from mlops_nb.monitoring import drift_report
    cur = generate(rows, 2, True)
    prof = json.loads(profile_path.read_text())
    data_mb = peak_mb()
    start = time.perf_counter()
    report = drift_report(prof, cur, 0.2, 0.01)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "flagged": sorted(report[report.drifted].feature), "data_mb": data_mb,
            "psi": report.set_index("feature").psi.round(4).to_dict()}


def case_naive(rows: int, profile_path: Path) -> dict:
    "The usual way: the training rows kept in memory, exact two-sample tests and histograms per feature."
    from scipy import stats
    from mlops_nb.monitoring import psi
    ref, cur = generate(rows, 1, False), generate(rows, 2, True)
    data_mb = peak_mb()
    start = time.perf_counter()
    flagged = []
    for c in NUMERIC:
        r, k = ref[c].dropna().to_numpy(), cur[c].dropna().to_numpy()
        edges = np.unique(np.quantile(r, np.linspace(0, 1, 11)))
        edges[0], edges[-1] = -np.inf, np.inf
        shares = [np.r_[np.histogram(s, edges)[0], n - len(s)] / n for s, n in ((r, rows), (k, rows))]  # + missing
        if psi(*shares) > 0.2 and stats.ks_2samp(r, k).pvalue < 0.01:
            flagged.append(c)
    for c in CATEGORICAL:
        counts = pd.concat([ref[c].value_counts(dropna=False), cur[c].value_counts(dropna=False)], axis=1).fillna(0)
        shares = (counts / counts.sum()).to_numpy().T
        if psi(*shares) > 0.2 and stats.chi2_contingency(counts.to_numpy().T + 1).pvalue < 0.01:
            flagged.append(c)
    return {"seconds": time.perf_counter() - start, "flagged": sorted(flagged), "data_mb": data_mb}


CASES = {"profile": case_profile, "mlops": case_mlops, "naive": case_naive}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the reference and of the current data")
    ap.add_argument("--no-peer", action="store_true", help="skip the naive way")
    ap.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)
    ap.add_argument("--profile", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:  # one case in its own process, so that peak memory is its own
        result = CASES[args.case](args.rows, Path(args.profile))
        result["peak_mb"] = peak_mb()
        print(json.dumps(result))
        return
    results = {}
    with tempfile.TemporaryDirectory() as d:
        prof = Path(d) / "profile.json"
        for case in ["profile", "mlops"] + ([] if args.no_peer else ["naive"]):
            done = subprocess.run([sys.executable, __file__, "--case", case, "--rows", str(args.rows), "--profile",
                                   prof], capture_output=True, text=True, check=True)
            results[case] = json.loads(done.stdout.strip().splitlines()[-1])
    labels = {"profile": "profile of the reference rows (train stage)",
              "mlops": "mlops_nb drift_report against the profile",
              "naive": "naive: training rows + scipy tests per feature"}
    print(f"{args.rows:,} rows x {len(NUMERIC) + len(CATEGORICAL)} features "
          f"({len(NUMERIC)} numeric, {len(CATEGORICAL)} categorical)\n")
    print(f"{'case':48} {'seconds':>8} {'peak MB':>8} {'data MB':>8}  flagged")
    for case, r in results.items():
        print(f"{labels[case]:48} {r['seconds']:8.2f} {r['peak_mb']:8.0f} {r.get('data_mb', 0):8.0f}  "
              f"{', '.join(r['flagged']) if case != 'profile' else '(%.0f KB of JSON)' % r['json_kb']}")
    flagged = set(results["mlops"]["flagged"])
    psis = results["mlops"]["psi"]
    print(f"\nPSI of the shifted: {', '.join(f'{c} {psis[c]:.3f}' for c in SHIFTED)}; largest PSI of the others: "
          f"{max(v for c, v in psis.items() if c not in SHIFTED):.4f}")
    print(f"shifted: {', '.join(f'{c} ({how})' for c, how in SHIFTED.items())}")
    print(f"flagged exactly the shifted features: {flagged == set(SHIFTED)}; "
          f"check under 3.5 s: {results['mlops']['seconds'] < 3.5}; peak under 0.8 GB: "
          f"{results['mlops']['peak_mb'] < 800}")
    print("(peak MB is the whole process's max RSS, the generated data included; data MB is it before the check)")


if __name__ == "__main__":
    main()
