"""Benchmark: `mlops-nb serve` against `mlflow models serve` on the same model version with the same number of worker
processes, in the same run: single-row and 100-row requests at concurrency 1 and 16, driven by wrk.

    .venv/bin/python bench/serve.py [--workers 1] [--seconds 10] [--repeat 1]

Builds a small project with the test pipeline (env.test.yaml) once, in a cache folder under the system's temporary
folder, then starts both servers on loopback and loads each in turn with `wrk` (Debian: apt-get install wrk). Prints
requests/s, p50 and p99 latency and the failed requests of each case, and the ratios ours / MLflow; the aim is at least
twice MLflow's requests/s at an equal or better p99.
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from mlops_nb.projects import copy_run_files

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CACHE = Path(tempfile.gettempdir()) / "mlops-nb-bench-serve"
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.body = f:read("*a")
f:close()
"""


def built_project() -> Path:
    "The cached project, built with the test pipeline when it has no registered model yet."
    if (CACHE / "data" / "mlflow.db").exists():
        return CACHE
    shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True)
    copy_run_files(REPO, CACHE)
    print(f"building the test pipeline in {CACHE} ...", flush=True)
    done = subprocess.run([BIN / "mlops-nb", "run", "--env", "env.test.yaml"], cwd=CACHE, env=environment(CACHE),
                          capture_output=True, text=True)
    if done.returncode:
        shutil.rmtree(CACHE, ignore_errors=True)
        sys.exit(f"the test pipeline failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return CACHE


def environment(root: Path) -> dict:
    "This checkout's library, the project's root and its local MLflow store, the venv's commands first on PATH."
    return {**os.environ, "PYTHONPATH": str(REPO), "MLOPS_NB_ROOT": str(root),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow models serve runs `uvicorn`
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'data' / 'mlflow.db'}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, url, env, cwd, log) -> subprocess.Popen:
    "A server process, once GET `url` answers 200."
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{' '.join(map(str, cmd))} exited; see {log.name}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    sys.exit(f"{url} did not answer within 180 s; see {log.name}")


def stop(proc):
    "Stop a server and its worker processes."
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, 9)


def wrk(url, body: Path, connections: int, seconds: int, script: Path) -> dict:
    "requests/s, p50 and p99 latency (ms) and failed requests of one wrk run."
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         env={**os.environ, "BENCH_BODY": str(body)}, capture_output=True, text=True, check=True).stdout
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}

    def latency(p):
        value, u = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M).groups()
        return float(value) * unit[u]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": latency(50),
            "p99": latency(99), "failed": (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=1, help="worker processes of each server")
    ap.add_argument("--seconds", type=int, default=10, help="duration of each load case")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each case, alternating which server goes first; "
                    "the table shows medians (a shared machine is noisy)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/serve.py needs the load generator wrk: apt-get install -y wrk (or brew install wrk)")
    root = built_project()
    env = environment(root)
    import pandas as pd
    sys.path.insert(0, str(REPO))
    from mlops_nb.config import load_params
    params = load_params(root)
    columns = params["numeric_features"] + params["categorical_features"]
    rows = pd.read_csv(root / params["data_path"])[columns].head(100)
    rows = json.loads(rows.to_json(orient="split", index=False))  # NaN -> null
    version = json.loads((root / "data/pipeline/register/registered.json").read_text())["version"]

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    bodies = {}
    for n in (1, 100):
        bodies[n] = work / f"rows{n}.json"
        bodies[n].write_text(json.dumps({"dataframe_split": {"columns": rows["columns"], "data": rows["data"][:n]}}))
    ours, theirs = free_port(), free_port()
    servers = {}
    try:
        servers["mlops-nb"] = start([BIN / "mlops-nb", "serve", "--port", str(ours), "--workers", str(args.workers)],
                                    f"http://127.0.0.1:{ours}/ping", env, root, open(work / "mlops-nb.log", "w"))
        servers["mlflow"] = start([BIN / "mlflow", "models", "serve", "-m", f"models:/{params['model_name']}/{version}",
                                   "--env-manager", "local", "--host", "127.0.0.1", "--port", str(theirs),
                                   "--workers", str(args.workers)],
                                  f"http://127.0.0.1:{theirs}/ping", env, root, open(work / "mlflow.log", "w"))
        urls = {"mlops-nb": f"http://127.0.0.1:{ours}/invocations", "mlflow": f"http://127.0.0.1:{theirs}/invocations"}
        for name, url in urls.items():  # warm up: first requests pay for lazy imports
            wrk(url, bodies[1], 4, 2, script)
        runs = {}
        for r in range(args.repeat):
            for n in (1, 100):
                for c in (1, 16):
                    for name, url in (list(urls.items()) if r % 2 == 0 else list(urls.items())[::-1]):
                        result = wrk(url, bodies[n], c, args.seconds, script)
                        runs.setdefault((n, c, name), []).append(result)
                        print(f"  {n:>3} row(s), concurrency {c:>2}, {name:8}: {result['rps']:8.1f} req/s, "
                              f"p99 {result['p99']:.1f} ms", flush=True)
        results = {case: {k: statistics.median(r[k] for r in rs) if k != "failed" else sum(r[k] for r in rs)
                          for k in rs[0]} for case, rs in runs.items()}
    finally:
        for proc in servers.values():
            stop(proc)
    print(f"\nmodel {params['model_name']} v{version}; {args.workers} worker process(es) per server; wrk, "
          f"{args.seconds} s per case, median of {args.repeat} run(s); {os.cpu_count()} cores")
    print(f"{'rows':>4} {'conc':>4}  {'server':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}   "
          f"{'req/s ratio':>11} {'p99 ratio':>9}")
    for n in (1, 100):
        for c in (1, 16):
            o, m = results[n, c, "mlops-nb"], results[n, c, "mlflow"]
            for name, r in (("mlops-nb", o), ("mlflow", m)):
                ratios = f"{o['rps'] / m['rps']:11.2f} {o['p99'] / m['p99']:9.2f}" if name == "mlops-nb" else ""
                print(f"{n:>4} {c:>4}  {name:8} {r['rps']:9.1f} {r['p50']:8.1f} {r['p99']:8.1f} {r['failed']:7d}   {ratios}")
    print("\nratios: mlops-nb / mlflow (req/s: higher is better; p99: lower is better)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
