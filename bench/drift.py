"""Benchmark: how often the drift rule (mlops_nb.drift.drift_report: effect size over `drift_threshold` and a
Holm-adjusted test under `drift_p_value`) finds a shift, and how often it cries wolf, at 1k to 1M rows; and the
1,000,000 rows x 20 features check against the reference profile stored with a model, beside Evidently 0.7's
DataDriftPreset (run by another Python, in its own venv: it needs pandas < 3) and the naive way that keeps the
training rows (exact scipy statistics per feature).

    .venv/bin/python bench/drift.py [--tiny] [--evidently /tmp/evvenv/bin/python] [--no-naive]

Evidently in a venv of its own: `python -m venv /tmp/evvenv && /tmp/evvenv/bin/pip install "evidently>=0.7,<0.8"
"pandas<3"`; without --evidently its columns read "not measured".

1. Detection: per check, 20 features against a reference of as many rows: 5 numeric ones moved (mean +0.1, +0.2,
   +0.3, +0.5 sd; scale x1.5), 5 categorical ones moved the same way (5 categories cut from a normal at fixed points,
   the normal moved), 10 left alone. Numeric features are normal, lognormal, whole numbers or exponential (by seed).
   The table gives the share of checks that flag each moved feature. False alarms: 20 features none of which moved,
   the share of features flagged. Several seeds per size (fewer for Evidently, which is slower).
2. The 1M x 20 check of the issue: 20 standard normal features, n03, n07 and n12 moved by +0.3 sd: features flagged,
   seconds and peak memory of each way, each in its own process (which generates its data itself; peak memory is the
   process's max RSS, data included). And the earlier mixed case (4 features moved in different ways).

The aims: every shift of 0.3 sd or more caught at 10k rows and above, false alarms at most 1 feature in 100 at every
size, and the 1M x 20 check at least 50x faster than Evidently with under half its peak memory. `--tiny` runs the
grid at 1k and 10k rows with few seeds and the issue's case at 20,000 rows, without the naive way, in seconds (CI).
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

SHIFTS = {"mean +0.1 sd": (0.1, 1.0), "mean +0.2 sd": (0.2, 1.0), "mean +0.3 sd": (0.3, 1.0),
          "mean +0.5 sd": (0.5, 1.0), "scale x1.5": (0.0, 1.5)}  # name: (mean shift in sd, scale factor)
CUTS = np.array([-1.0, -0.3, 0.4, 1.2])  # 5 categories, shares 16%, 22%, 28%, 23%, 12%
SIZES = {1_000: (100, 20), 10_000: (40, 10), 100_000: (10, 3), 1_000_000: (2, 0)}  # rows: (seeds, Evidently's)
TINY_SIZES = {1_000: (5, 2), 10_000: (2, 1)}
ISSUE_SHIFTED = ["n03", "n07", "n12"]


def moved(x: np.ndarray, shift: float, scale: float) -> np.ndarray:
    "`x` with its mean moved by `shift` sd and its spread around the mean times `scale`."
    m, s = x.mean(), x.std()
    return m + (x - m) * scale + shift * s


def numeric(rng, rows: int, kind: int) -> np.ndarray:
    return (rng.normal(100, 15, rows) if kind == 0 else rng.lognormal(3, 0.7, rows) if kind == 1 else
            rng.integers(0, 60, rows).astype(float) if kind == 2 else rng.exponential(2.0, rows))


def categorical(rng, rows: int, shift: float = 0.0, scale: float = 1.0) -> pd.Categorical:
    "5 categories cut from a normal whose mean moved by `shift` sd and spread by `scale`."
    codes = np.searchsorted(CUTS, rng.normal(shift, scale, rows))
    return pd.Categorical.from_codes(codes, [f"k{i}" for i in range(5)])


def grid_frame(rows: int, seed: int, role: str) -> pd.DataFrame:
    "20 features: reference rows (`role` 'ref'), rows with the SHIFTS applied ('moved'), or new unmoved rows ('same')."
    rng = np.random.default_rng([seed, {"ref": 0, "moved": 1, "same": 2}[role]])
    kind, cols = seed % 4, {}
    for i, (shift, scale) in enumerate(SHIFTS.values()):
        cols[f"num_{i}"] = moved(numeric(rng, rows, kind), shift, scale) if role == "moved" else numeric(rng, rows, kind)
    for i in range(5):
        cols[f"num_same_{i}"] = numeric(rng, rows, (kind + i) % 4)
    for i, (shift, scale) in enumerate(SHIFTS.values()):
        cols[f"cat_{i}"] = categorical(rng, rows, shift, scale) if role == "moved" else categorical(rng, rows)
    for i in range(5):
        cols[f"cat_same_{i}"] = categorical(rng, rows)
    return pd.DataFrame(cols)


def kinds(df: pd.DataFrame) -> tuple:
    return [c for c in df if c.startswith("num")], [c for c in df if c.startswith("cat")]


def flagged_ours(ref: pd.DataFrame, cur: pd.DataFrame, prof: dict | None = None) -> set:
    from mlops_nb.drift import drift_report, profile
    prof = prof or profile(ref, *kinds(ref))
    report = drift_report(prof, cur)
    return set(report[report.drifted].feature)


def flagged_evidently(ref: pd.DataFrame, cur: pd.DataFrame) -> set:
    "The columns Evidently's DataDriftPreset (its defaults) calls drifted."
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset
    num, cat = kinds(ref)
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    snapshot = Report([DataDriftPreset()]).run(Dataset.from_pandas(cur, data_definition=definition),
                                               Dataset.from_pandas(ref, data_definition=definition))
    out = set()
    for m in snapshot.dict()["metrics"]:
        config = m["config"]
        if config.get("type", "").endswith("ValueDrift"):
            p_value = "p_value" in config["method"]  # a test (small samples): drifted below; a distance: at or above
            if (m["value"] < config["threshold"]) if p_value else (m["value"] >= config["threshold"]):
                out.add(config["column"])
    return out


def grid(sizes: dict, who: str) -> dict:
    "{rows: {'seeds', 'caught': {feature: checks that flagged it}, 'false': features flagged unmoved, 'features'}}."
    check = flagged_ours if who == "ours" else flagged_evidently
    out = {}
    for rows, seeds in sizes.items():
        caught, false = {}, 0
        for seed in range(seeds):
            ref = grid_frame(rows, seed, "ref")
            prof = None
            if who == "ours":
                from mlops_nb.drift import profile
                prof = profile(ref, *kinds(ref))
            hits = check(ref, grid_frame(rows, seed, "moved"), *([prof] if prof else []))
            for f in hits:
                caught[f] = caught.get(f, 0) + 1
            false += len(check(ref, grid_frame(rows, seed, "same"), *([prof] if prof else [])))
        out[rows] = {"seeds": seeds, "caught": caught, "false": false, "features": 20 * seeds}
    return out


def issue_frame(rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    "The issue's data: 20 standard normal features; `shifted`: n03, n07 and n12 moved by +0.3 sd."
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"n{i:02d}": rng.normal(0.3 if shifted and f"n{i:02d}" in ISSUE_SHIFTED else 0, 1, rows)
                         for i in range(20)})


MIXED_SHIFTED = {"n03": "mean +0.5 sd", "n07": "scale x1.6", "n12": "10% more missing, mean +0.4 sd",
                 "c02": "category shares changed"}


def mixed_frame(rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    "The earlier case: 16 numeric features of 4 shapes and 4 categorical ones; `shifted`: MIXED_SHIFTED moved."
    rng = np.random.default_rng(seed)
    cols = {}
    for i in range(16):
        c, x = f"n{i:02d}", numeric(rng, rows, i % 4)
        if shifted and c == "n03":
            x = x + 0.5 * x.std()
        if shifted and c == "n07":
            x = x.mean() + (x - x.mean()) * 1.6
        if c == "n12":
            x = x + (0.4 * x.std() if shifted else 0)
            x[rng.random(rows) < (0.15 if shifted else 0.05)] = np.nan
        cols[c] = x
    for i in range(4):
        c = f"c{i:02d}"
        cats = np.array([f"{c}_{k}" for k in range(3 + 2 * i)], dtype=object)
        p = np.ones(len(cats)) / len(cats)
        if shifted and c == "c02":
            p = np.r_[0.45, np.full(len(cats) - 1, 0.55 / (len(cats) - 1))]
        cols[c] = cats[rng.choice(len(cats), rows, p=p)]
    return pd.DataFrame(cols)


FRAMES = {"issue": issue_frame, "mixed": mixed_frame}


def split(df: pd.DataFrame) -> tuple:
    return [c for c in df if df[c].dtype.kind == "f"], [c for c in df if df[c].dtype.kind != "f"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_profile(scenario: str, rows: int, out: Path) -> dict:
    "The train stage's part: the reference profile of the training rows, as JSON."
    from mlops_nb.drift import profile
    ref = FRAMES[scenario](rows, 1, False)
    start = time.perf_counter()
    prof = profile(ref, *split(ref))
    seconds = time.perf_counter() - start
    out.write_text(json.dumps(prof))
    return {"seconds": seconds, "flagged": [], "json_kb": out.stat().st_size / 1024}


def case_ours(scenario: str, rows: int, profile_path: Path) -> dict:
    "The drift check against the stored profile: no training rows."
    from mlops_nb.drift import drift_report
    cur = FRAMES[scenario](rows, 2, True)
    prof = json.loads(profile_path.read_text())
    data_mb = peak_mb()
    start = time.perf_counter()
    report = drift_report(prof, cur)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "flagged": sorted(report[report.drifted].feature), "data_mb": data_mb,
            "effect": report.set_index("feature").effect_size.round(4).to_dict()}


def case_naive(scenario: str, rows: int, profile_path: Path) -> dict:
    "The usual way: the training rows kept in memory, the same statistics computed exactly (scipy) per feature."
    from scipy import stats
    from mlops_nb.drift import cohen_w, holm
    ref, cur = FRAMES[scenario](rows, 1, False), FRAMES[scenario](rows, 2, True)
    data_mb = peak_mb()
    start = time.perf_counter()
    effect, p = {}, {}
    num, cat = split(ref)
    for c in num:
        r, k = ref[c].dropna().to_numpy(), cur[c].dropna().to_numpy()
        effect[c], p[c] = stats.wasserstein_distance(r, k) / r.std(), stats.ks_2samp(r, k).pvalue
    for c in cat:
        counts = pd.concat([ref[c].value_counts(dropna=False), cur[c].value_counts(dropna=False)], axis=1).fillna(0)
        effect[c], p[c] = cohen_w(*counts.to_numpy().T), stats.chi2_contingency(counts.to_numpy().T + 1).pvalue
    adjusted = dict(zip(p, holm(list(p.values()))))
    flagged = [c for c in effect if effect[c] > 0.1 and adjusted[c] < 0.01]
    return {"seconds": time.perf_counter() - start, "flagged": sorted(flagged), "data_mb": data_mb}


def case_evidently(scenario: str, rows: int, profile_path: Path) -> dict:
    "Evidently's DataDriftPreset: both frames in memory, its own choice of statistics."
    ref, cur = FRAMES[scenario](rows, 1, False), FRAMES[scenario](rows, 2, True)
    import evidently  # noqa: F401  (imported before the clock starts)
    data_mb = peak_mb()
    start = time.perf_counter()
    flagged = flagged_evidently(ref.rename(columns=lambda c: f"num_{c}" if ref[c].dtype.kind == "f" else f"cat_{c}"),
                                cur.rename(columns=lambda c: f"num_{c}" if cur[c].dtype.kind == "f" else f"cat_{c}"))
    return {"seconds": time.perf_counter() - start, "flagged": sorted(f.split("_", 1)[1] for f in flagged),
            "data_mb": data_mb}


CASES = {"profile": case_profile, "ours": case_ours, "naive": case_naive, "evidently": case_evidently}
LABELS = {"profile": "profile of the reference rows (train stage)", "ours": "mlops_nb drift_report, stored profile",
          "naive": "naive: training rows + exact scipy statistics", "evidently": "Evidently 0.7 DataDriftPreset"}


def run_case(python: str, case: str, scenario: str, rows: int, profile: Path) -> dict:
    done = subprocess.run([python, __file__, "--case", case, "--scenario", scenario, "--rows", str(rows),
                           "--profile", str(profile)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{case} on {scenario} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def detection_table(ours: dict, peer: dict | None):
    "The share of checks that flag each moved feature, and the false alarms, per size: ours / Evidently's."
    def cell(res, rows, feature=None):
        r = (res or {}).get(rows)
        if not r or not r["seeds"]:
            return "-"
        if feature is None:
            return f"{r['false'] / r['features']:.3f}"
        return f"{r['caught'].get(feature, 0) / r['seeds']:.2f}"
    names = list(SHIFTS)
    print("Detection rate (share of checks flagging the moved feature) and false alarms (share of unmoved features "
          "flagged);\neach cell: mlops_nb / Evidently (- not measured)\n")
    print(f"{'rows':>9} {'kind':12}" + "".join(f"{n:>15}" for n in names) + f"{'false alarms':>16} {'seeds':>8}")
    for rows in ours:
        for kind, prefix in (("numeric", "num"), ("categorical", "cat")):
            cells = [f"{cell(ours, rows, f'{prefix}_{i}')} / {cell(peer, rows, f'{prefix}_{i}')}" for i in range(len(names))]
            false = f"{cell(ours, rows)} / {cell(peer, rows)}" if kind == "numeric" else ""
            seeds = f"{ours[rows]['seeds']}/{(peer or {}).get(rows, {}).get('seeds', 0)}" if kind == "numeric" else ""
            print(f"{rows:>9,} {kind:12}" + "".join(f"{c:>15}" for c in cells) + f"{false:>16} {seeds:>8}")
    print("(false alarms: of 20 unmoved features per seed, 10 numeric and 10 categorical. Evidently, at 1,000 rows or "
          "fewer, tests each feature\nat p < 0.05, uncorrected, against the reference's shares taken as exact; above, "
          "a distance over 0.1: normed Wasserstein, Jensen-Shannon)")


def aims(ours: dict) -> tuple:
    caught = all(ours[rows]["caught"].get(f"{p}_{i}", 0) == ours[rows]["seeds"] for rows in ours if rows >= 10_000
                 for p in ("num", "cat") for i, (shift, scale) in enumerate(SHIFTS.values()) if shift >= 0.3 or scale != 1)
    false = max(r["false"] / r["features"] for r in ours.values())
    return caught, false


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="small sizes and few seeds: seconds, for CI")
    ap.add_argument("--evidently", metavar="PYTHON", help="the python of a venv with evidently 0.7 (pandas < 3)")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive way in the 1M x 20 check")
    ap.add_argument("--rows", type=int, help="rows of the 1M x 20 check (default 1,000,000; 20,000 with --tiny)")
    ap.add_argument("--case", choices=list(CASES) + ["grid"], help=argparse.SUPPRESS)
    ap.add_argument("--scenario", choices=list(FRAMES), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", help=argparse.SUPPRESS)
    ap.add_argument("--profile", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case == "grid":  # the detection grid of Evidently, in its own venv
        print(json.dumps(grid({int(k): v for k, v in json.loads(args.sizes).items()}, "evidently")))
        return
    if args.case:  # one case in its own process, so that peak memory is its own
        result = CASES[args.case](args.scenario, args.rows, Path(args.profile))
        result["peak_mb"] = peak_mb()
        print(json.dumps(result))
        return

    sizes = TINY_SIZES if args.tiny else SIZES
    start = time.perf_counter()
    ours = grid({rows: s for rows, (s, _) in sizes.items()}, "ours")
    ours_seconds = time.perf_counter() - start
    peer = None
    if args.evidently:
        done = subprocess.run([args.evidently, __file__, "--case", "grid", "--sizes",
                               json.dumps({rows: e for rows, (_, e) in sizes.items() if e})],
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"Evidently's grid failed:\n{done.stderr[-3000:]}")
        peer = {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
    detection_table(ours, peer)
    caught, false = aims(ours)
    print(f"\nmlops_nb: every shift of 0.3 sd or more (and the scale change) caught at 10k rows and above: {caught}; "
          f"false alarms at most 1 in 100 at every size: {false <= 0.01} (worst {false:.3f}); {ours_seconds:.0f} s")

    rows = args.rows or (20_000 if args.tiny else 1_000_000)
    for scenario in ["issue"] if args.tiny else FRAMES:  # --tiny: the issue's case alone, without the naive way
        results = {}
        with tempfile.TemporaryDirectory() as d:
            prof = Path(d) / "profile.json"
            for case in ["profile", "ours"] + ([] if args.no_naive or args.tiny else ["naive"]):
                results[case] = run_case(sys.executable, case, scenario, rows, prof)
            if args.evidently:
                results["evidently"] = run_case(args.evidently, "evidently", scenario, rows, prof)
        shifted = ISSUE_SHIFTED if scenario == "issue" else list(MIXED_SHIFTED)
        what = ("20 standard normal features, n03, n07, n12 moved by +0.3 sd" if scenario == "issue" else
                "16 numeric and 4 categorical features; " + ", ".join(f"{c} {h}" for c, h in MIXED_SHIFTED.items()))
        print(f"\n{rows:,} rows x 20 features ({scenario}: {what})\n")
        print(f"{'case':46} {'seconds':>8} {'peak MB':>8} {'data MB':>8}  flagged")
        for case, r in results.items():
            flagged = ", ".join(r["flagged"]) or "none"
            print(f"{LABELS[case]:46} {r['seconds']:8.2f} {r['peak_mb']:8.0f} {r.get('data_mb', 0):8.0f}  "
                  f"{flagged if case != 'profile' else '(%.0f KB of JSON)' % r['json_kb']}")
        if not args.evidently:
            print(f"{LABELS['evidently']:46} {'not measured (give --evidently PYTHON)':>30}")
        effect = results["ours"]["effect"]
        print(f"effect sizes of the moved: {', '.join(f'{c} {effect[c]:.3f}' for c in shifted)}; largest of the "
              f"others: {max(v for c, v in effect.items() if c not in shifted):.4f}")
        line = f"mlops_nb flagged exactly the moved features: {results['ours']['flagged'] == sorted(shifted)}"
        if "evidently" in results:
            ev, me = results["evidently"], results["ours"]
            line += (f"; Evidently: {ev['flagged'] == sorted(shifted)}; {ev['seconds'] / me['seconds']:.0f}x faster "
                     f"(aim 50x: {ev['seconds'] / me['seconds'] >= 50}), peak memory {me['peak_mb'] / ev['peak_mb']:.2f} "
                     f"of Evidently's (aim under 0.5: {me['peak_mb'] < ev['peak_mb'] / 2})")
        print(line)
    print("(peak MB is the whole process's max RSS, the generated data included; data MB is it before the check)")


if __name__ == "__main__":
    main()
