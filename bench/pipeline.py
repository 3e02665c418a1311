"""Benchmark: the reference pipeline through `mlops-nb run` (stage notebooks under ploomber, reports rendered to
HTML) against the same stage functions called in one plain Python process (bench/plain_pipeline.py), in the same run.

    .venv/bin/python bench/pipeline.py [--env env.test.yaml] [--repeat 3]

Each repeat starts from a fresh copy of the project (fresh MLflow store), so every case pays the same set-up. Prints
wall times (median of the repeats) and the ratio pipeline / plain; the aims are a ratio under 1.5 and a no-op rebuild
under 3 s.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlops_nb.projects import copy_run_files

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def fresh_project(parent: Path) -> Path:
    "A copy of the project's pipeline files with nothing generated yet."
    root = Path(tempfile.mkdtemp(dir=parent))
    copy_run_files(REPO, root)
    return root


def timed(cmd, cwd) -> float:
    "Wall time of a command, which must succeed."
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default=None, help="env file for both cases (default: env.yaml alone)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    env = ["--env", args.env] if args.env else []
    times = {"pipeline, full run": [], "pipeline, no-op rebuild": [], "plain Python, same functions": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            root = fresh_project(Path(tmp))
            times["pipeline, full run"].append(timed([BIN / "mlops-nb", "run", *env], root))
            times["pipeline, no-op rebuild"].append(timed([BIN / "mlops-nb", "run", *env], root))
            plain = fresh_project(Path(tmp))
            times["plain Python, same functions"].append(
                timed([sys.executable, REPO / "bench/plain_pipeline.py", plain, *([args.env] if args.env else [])],
                      plain))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nreference pipeline ({args.env or 'env.yaml'}), median of {args.repeat} run(s), wall seconds")
    print(f"{'case':34} {'seconds':>8}")
    for k, v in med.items():
        print(f"{k:34} {v:8.2f}")
    ratio = med["pipeline, full run"] / med["plain Python, same functions"]
    print(f"\nratio pipeline / plain: {ratio:.2f} (aim < 1.5); "
          f"no-op rebuild {med['pipeline, no-op rebuild']:.2f} s (aim < 3 s)")


if __name__ == "__main__":
    main()
