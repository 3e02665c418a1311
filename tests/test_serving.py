"""The scoring server through `mlops-nb serve`: MLflow's protocol and answers, bad requests, auth, hot reload, workers."""
import json
import os
import re
import socket
import sys
import threading
from pathlib import Path

import pandas as pd
import requests

from conftest import CLI, free_port, start_server, wait_for

BIN = Path(sys.executable).parent
MODEL = "credit-risk"
CATEGORICAL = ["Home", "Marital", "Records", "Job"]
COLUMNS = ["Seniority", "Time", "Age", "Expenses", "Income", "Assets", "Debt", "Amount", "Price", *CATEGORICAL]


def environment(project, **extra) -> list:
    "`env` arguments running a command with the project's library, root and local MLflow store."
    return ["env", "-u", "MLFLOW_TRACKING_URI", f"PYTHONPATH={project.root}", f"MLOPS_NB_ROOT={project.root}",
            f"PATH={BIN}{os.pathsep}{os.environ.get('PATH', '')}", *(f"{k}={v}" for k, v in extra.items())]


def serve(project, *args, env=None):
    "`mlops-nb serve ARGS` on a free loopback port, once it answers: (process, base URL)."
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server([*environment(project, **(env or {})), str(CLI), "serve", "--port", str(port), *args],
                        f"{url}/ping")
    return proc, url


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)


def sample(project, n=20) -> pd.DataFrame:
    "`n` rows of the raw data to score, missing numbers included (text columns complete: see test_null_text)."
    df = pd.read_csv(project.root / "data/raw/credit_data.csv")[COLUMNS]
    df = df.dropna(subset=CATEGORICAL)
    gaps = df[df.isna().any(axis=1)].head(min(n, 3))
    return pd.concat([gaps, df.drop(gaps.index).head(n - len(gaps))], ignore_index=True)


def bodies(df: pd.DataFrame) -> dict:
    "The same rows in each of MLflow's request formats: name -> (content type, body)."
    split = json.loads(df.to_json(orient="split", index=False))
    records = json.loads(df.to_json(orient="records"))
    return {"dataframe_split": ("application/json", json.dumps({"dataframe_split": split})),
            "dataframe_records": ("application/json", json.dumps({"dataframe_records": records})),
            "instances": ("application/json", json.dumps({"instances": records})),
            "inputs": ("application/json", json.dumps({"inputs": {c: [r[c] for r in records] for c in df.columns},
                                                       "params": {}})),  # columns, and params (ignored)
            "csv": ("text/csv", df.to_csv(index=False))}


def post(url, body, content_type="application/json", **headers):
    return requests.post(f"{url}/invocations", data=body, headers={"Content-Type": content_type, **headers},
                         timeout=60)


def test_same_predictions_as_mlflow_models_serve(project):
    df = sample(project)
    ours, url = serve(project)
    port = free_port()
    theirs = start_server([*environment(project, MLFLOW_TRACKING_URI=f"sqlite:///{project.root / 'data/mlflow.db'}"),
                           str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{MODEL}/1", "--env-manager", "local",
                           "--host", "127.0.0.1", "--port", str(port)], f"http://127.0.0.1:{port}/ping")
    try:
        for name, (content_type, body) in bodies(df).items():
            want = post(f"http://127.0.0.1:{port}", body, content_type)
            assert want.status_code == 200, (name, want.text)
            got = post(url, body, content_type, **{"X-Request-ID": f"req-{name}"})
            assert got.status_code == 200, (name, got.text)
            assert got.json()["predictions"] == want.json()["predictions"], name
            assert got.json()["model_version"] == 1 and got.headers["X-Model-Version"] == "1"
            assert got.headers["X-Request-ID"] == f"req-{name}"
        labels = [p["prediction"] for p in want.json()["predictions"]]  # the version's scorer: label values
        assert set(labels) == {"good", "bad"}  # both classes among the answers: a real comparison
        from mlflow.pyfunc.scoring_server.client import ScoringServerClient  # MLflow's own client, unchanged
        mlflow_client = [ScoringServerClient("127.0.0.1", int(u.rsplit(":", 1)[1])).invoke(df).get_predictions()
                         for u in (url, f"http://127.0.0.1:{port}")]
        pd.testing.assert_frame_equal(*mlflow_client)
        assert requests.get(f"{url}/health", timeout=5).json()["model_version"] == 1
        assert requests.get(f"{url}/version", timeout=5).json()["model_name"] == MODEL
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert 'mlops_nb_requests_total{code="200"} 6.0' in metrics and "mlops_nb_request_latency_seconds_bucket" in metrics
    finally:
        stop(ours)
        stop(theirs)

    sys.path.insert(0, str(project.root))
    from mlops_nb.config import Project
    from mlops_nb.prediction_log import read_prediction_log
    log = read_prediction_log(Project(project.root))
    assert len(log) == 6 * len(df) and {f"req-{n}" for n in bodies(df)} < set(log.request_id)
    assert (log.model_name == MODEL).all() and (log.model_version == 1).all() and (log.latency_ms > 0).all()
    first = log[log.request_id == "req-dataframe_split"]
    assert list(first.row) == list(range(len(df))) and list(first.prediction) == labels
    threshold = float(project.registry().get_model_version(MODEL, "1").tags["decision_threshold"])
    assert first.score.between(0, 1).all() and ((first.score >= threshold) == (first.prediction == "bad")).all()
    assert first.Age.iloc[0] == df.Age[0] and first.Job.iloc[0] == df.Job[0]
    assert first[list(df.columns)].isna().any().any()  # missing numbers logged as null
    files = list((project.root / "data/predictions").glob("*/*.jsonl"))
    assert len(files) == 1 and re.fullmatch(rf"{re.escape(socket.gethostname())}-\d+\.jsonl", files[0].name), files
    assert len(read_prediction_log(Project(project.root), since=log.time.max() + pd.Timedelta("1s"))) == 0


def test_bad_requests_get_400_413_415_naming_the_field_and_the_server_goes_on(project):
    df = sample(project, 5)
    assert len(df) == 5
    good = bodies(df)["dataframe_split"][1]
    records = json.loads(df.to_json(orient="records"))
    proc, url = serve(project, "--max-bytes", "20000")
    try:
        cases = [
            ("malformed JSON", good[:-5], "application/json", 400, "not valid JSON"),
            ("missing column", json.dumps({"dataframe_records": [{k: v for k, v in r.items() if k != "Age"}
                                                                 for r in records]}), "application/json", 400,
             "Missing column(s) ['Age']"),
            ("extra column", json.dumps({"dataframe_records": [{**r, "Colour": "red"} for r in records]}),
             "application/json", 400, "Unexpected column(s) ['Colour']"),
            ("text in a number column", json.dumps({"dataframe_records": records[:2] + [{**records[2], "Income": "lots"}]}),
             "application/json", 400, "Column 'Income' row 2"),
            ("number in a text column", json.dumps({"inputs": [{**records[0], "Job": 3}]}), "application/json", 400,
             "Column 'Job' row 0"),
            ("text in a CSV number column", df.assign(Age=["x", *df.Age[1:]]).to_csv(index=False), "text/csv", 400,
             "Column 'Age' row 0"),
            ("no format field", json.dumps({"rows": records}), "application/json", 400, "exactly one of the fields"),
            ("two format fields", json.dumps({"inputs": records, "instances": records}), "application/json", 400,
             "exactly one of the fields"),
            ("empty body", "", "application/json", 400, "empty"),
            ("no rows", json.dumps({"dataframe_records": []}), "application/json", 400, "no rows"),
            ("too large", json.dumps({"dataframe_records": records * 200}), "application/json", 413, "over the limit"),
            ("unsupported type", good, "text/plain", 415, "not supported"),
            ("unsupported charset", good, "application/json; charset=latin-1", 415, "charset"),
        ]
        for what, body, content_type, status, message in cases:
            r = post(url, body, content_type)
            assert r.status_code == status, (what, r.status_code, r.text)
            assert message in r.json()["message"], (what, r.json())
            assert r.json()["error_code"] and r.headers["X-Request-ID"]
        chunked = requests.post(f"{url}/invocations", data=iter([good.encode()] * (20000 // len(good) + 2)),  # chunked
                                headers={"Content-Type": "application/json"}, timeout=30)
        assert chunked.status_code == 413
        assert post(url, good).status_code == 200  # still serving
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert 'mlops_nb_errors_total{code="400"} 10.0' in metrics and 'mlops_nb_errors_total{code="413"} 2.0' in metrics
        assert 'mlops_nb_errors_total{code="415"} 2.0' in metrics and 'mlops_nb_requests_total{code="200"} 1.0' in metrics
        assert "500" not in metrics.split("mlops_nb_requests_total")[1].split("# HELP")[0]
    finally:
        stop(proc)


def test_null_text_is_a_missing_value(project):
    df = sample(project, 3).assign(Marital=None)
    proc, url = serve(project)
    try:
        for name, (content_type, body) in bodies(df).items():
            r = post(url, body, content_type)
            assert r.status_code == 200 and len(r.json()["predictions"]) == 3, (name, r.text)
    finally:
        stop(proc)


def test_a_bearer_token_from_the_environment(project):
    body = bodies(sample(project, 2))["dataframe_split"][1]
    proc, url = serve(project, env={"MLOPS_NB_SERVE_TOKEN": "s3cret"})
    try:
        assert post(url, body).status_code == 401
        assert post(url, body, Authorization="Bearer wrong").status_code == 401
        assert requests.get(f"{url}/metrics", timeout=5).status_code == 401
        assert post(url, body, Authorization="Bearer s3cret").status_code == 200
        assert requests.get(f"{url}/ping", timeout=5).status_code == 200  # probes need no token
    finally:
        stop(proc)


def test_a_new_champion_is_served_without_restart_or_failed_requests(project):
    body = bodies(sample(project, 1))["dataframe_split"][1]
    proc, url = serve(project, "--reload-seconds", "0.5")
    answers, failures, done = [], [], threading.Event()

    def client():
        with requests.Session() as s:
            while not done.is_set():
                try:
                    r = s.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}, timeout=60)
                    answers.append((r.status_code, r.json().get("model_version")))
                except Exception as e:
                    failures.append(repr(e))
    thread = threading.Thread(target=client)
    thread.start()
    try:
        wait_for(lambda: len(answers) > 5, "the first answers")
        project.run("--param", "seed=9", "--param", "champion_margin=1.0")  # registers version 2
        project.cli("promote", MODEL, "2", "--by", "test", "--reason", "new champion", "--override")
        wait_for(lambda: answers and answers[-1][1] == 2, "answers from version 2")
        seen = len(answers)
        wait_for(lambda: len(answers) > seen + 5, "more answers")
    finally:
        done.set()
        thread.join(timeout=60)
        stop(proc)
    assert not failures, failures[:3]
    assert {code for code, _ in answers} == {200}
    versions = [v for _, v in answers]
    assert versions[0] == 1 and versions[-1] == 2 and versions == sorted(versions)  # switched once, never back


def test_startup_errors_come_before_binding_the_port(project):
    for args, message in ((["--model", "nope"], "Model 'nope' has no version with alias 'champion'"),
                          (["--alias", "nope"], "no version with alias 'nope'"),
                          (["--workers", "0"], "at least 1")):
        done = project.cli("serve", "--port", str(free_port()), *args, check=False)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    proc, url = serve(project)
    try:
        busy = project.cli("serve", "--port", url.rsplit(":", 1)[1], check=False)
        assert busy.returncode == 2 and "choose another --port" in busy.stderr
    finally:
        stop(proc)


def test_several_workers_share_metrics_and_log_each_to_their_own_file(project):
    body = bodies(sample(project, 2))["dataframe_split"][1]
    proc, url = serve(project, "--workers", "2")
    try:
        answers = [requests.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"},
                                 timeout=60) for _ in range(40)]  # a new connection each: both workers get some
        assert {r.status_code for r in answers} == {200}
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert 'mlops_nb_requests_total{code="200"} 40.0' in metrics, metrics
    finally:
        stop(proc)
    lines = sum(len(f.read_text().splitlines()) for f in (project.root / "data/predictions").glob("*/*.jsonl"))
    assert lines == 80
