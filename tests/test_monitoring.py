"""Monitoring through the real CLI: the profile stored with the model, drift on a simulated prediction log, feedback
and live performance, the alert log and a webhook served on loopback, and the monitor stage; and the drift rule itself
on generated data (a 0.3 sd shift found, unshifted data left alone)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import nbformat
import numpy as np
import pandas as pd
import pytest

from conftest import free_port


def spec(project) -> dict:
    return json.loads((project.root / "data/pipeline/features/feature_spec.json").read_text())


def simulate_log(project, shift: bool = True) -> pd.DataFrame:
    "Two days of traffic: the scored test rows, the second day's Income tripled and Home 'boat' in 10 rows."
    from mlops_nb.config import Project
    from mlops_nb.prediction_log import write_prediction_log
    s = spec(project)
    rows = pd.read_parquet(project.root / "data/pipeline/score/scores.parquet")
    rows = rows.assign(request_id=[f"req-{i}" for i in range(len(rows))], row=0, latency_ms=2.5,
                       time=pd.date_range("2026-03-01 08:00", periods=len(rows), freq="20min", tz="UTC"))
    if shift:
        day2 = rows.time.dt.day == 2
        rows.loc[day2, "Income"] *= 3
        rows.loc[rows[day2].index[:10], "Home"] = "boat"
    write_prediction_log(Project(project.root), rows, s["numeric"] + s["categorical"])
    return rows


class Webhook:
    "A tiny HTTP server on loopback that records the JSON bodies POSTed to it."

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def alerts(project) -> list:
    path = project.root / "data/monitoring/alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_reference_profile_travels_with_the_registered_version(built, monkeypatch):
    client = built.registry()
    mv = client.get_model_version_by_alias("credit-risk", "champion")
    assert "reference/profile.json" in {a.path for a in client.list_artifacts(mv.run_id, "reference")}
    from mlops_nb.config import Project
    from mlops_nb.drift import reference_profile
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the built project's own store
    prof = reference_profile(Project(built.root), "credit-risk", int(mv.version))
    s = spec(built)
    assert list(prof["features"]) == s["numeric"] + s["categorical"]
    validation = pd.read_parquet(built.root / "data/pipeline/prepare/validation.parquet")
    train = pd.read_parquet(built.root / "data/pipeline/prepare/train.parquet")
    assert prof["prediction"]["rows"] == len(validation) and prof["rows"] == len(train)
    assert prof["features"]["Home"]["counts"] == {str(k): int(v) for k, v in train.Home.value_counts().items()}


def test_monitor_flags_the_shift_logs_alerts_and_posts_them(project):
    simulate_log(project)
    with Webhook() as hook:
        project.edit("env.yaml", 'alert_webhook: ""', f'alert_webhook: "{hook.url}"')
        done = project.cli("monitor")  # alerts are data, not errors: exit 0
    out = done.stdout
    assert "120 rows of prediction log" in out
    logged = alerts(project)
    kinds = {(a["kind"], a["feature"]) for a in logged}
    assert ("feature_drift", "Income") in kinds and ("unseen_category", "Home") in kinds
    assert not {f for k, f in kinds if k == "feature_drift"} - {"Income", "Home"}  # nothing else drifted
    assert "ALERT feature_drift: Income drifted: wasserstein/sd" in out and "Holm-adjusted" in out and "boat" in out
    assert set(logged[0]) == {"time", "model_name", "model_version", "kind", "feature", "value", "threshold",
                              "message", "source"}
    assert len(hook.received) == 1 and hook.received[0]["alerts"] == logged  # one POST with the batch of alerts
    report = (project.root / "data/monitoring/report.html").read_text()
    assert "report: data/monitoring/report.html" in out and "Income drifted" in report
    assert report.count("<img") == 3  # drift per feature, per day, the scores (no feedback yet)
    project.cli("monitor")
    assert len(alerts(project)) == 2 * len(logged)  # append-only


def test_a_failing_webhook_is_reported_not_fatal(project):
    simulate_log(project)
    project.edit("env.yaml", 'alert_webhook: ""', f'alert_webhook: "http://127.0.0.1:{free_port()}/x"')
    done = project.cli("monitor")
    assert "webhook failed: URLError" in done.stdout and alerts(project)


def test_no_shift_no_drift_alert(project):
    simulate_log(project, shift=False)
    done = project.cli("monitor", "--since", "2026-03-02")
    assert "0 of 13 features drifted" in done.stdout
    assert not [a for a in alerts(project) if a["kind"] in ("feature_drift", "prediction_drift")]


def test_feedback_joins_labels_and_live_performance_is_monitored(project):
    rows = simulate_log(project, shift=False)
    truth = pd.read_parquet(project.root / "data/pipeline/prepare/test.parquet").Status.to_numpy()
    pd.DataFrame({"request_id": rows.request_id[:60], "Status": truth[:60]}).to_csv(project.root / "l1.csv", index=False)
    done = project.cli("feedback", "l1.csv")
    assert "60 label(s) joined" in done.stdout and "2026-03-01" in done.stdout
    # the second day's labels, deliberately the opposite of the truth: live ROC AUC collapses
    flipped = np.where(truth[60:] == "bad", "good", "bad")
    pd.DataFrame({"request_id": rows.request_id[60:], "row": 0, "label": flipped}).to_csv(project.root / "l2.csv",
                                                                                           index=False)
    done = project.cli("feedback", "l2.csv")
    assert "2026-03-02" in done.stdout
    assert len(list((project.root / "data/feedback").glob("*.parquet"))) == 2
    out = project.cli("monitor").stdout
    assert "live performance (120 labelled rows)" in out
    assert "live_roc_auc" in {a["kind"] for a in alerts(project)}


@pytest.mark.parametrize("content, message", [
    ("id,Status\nreq-0,bad\n", "has no request_id column"),
    ("request_id,outcome\nreq-0,bad\n", "has no label column: name it 'Status'"),
    ("request_id,Status\nreq-0,maybe\n", "1 label(s) outside ['good', 'bad']"),
    ("request_id,Status\nreq-0,bad\nreq-999,good\n", "1 label(s) name predictions not in the prediction log"),
    ("request_id,row,Status\nreq-0,x,bad\n", "the row column must hold whole numbers"),
])
def test_bad_feedback_is_refused_whole(project, content, message):
    simulate_log(project, shift=False)
    (project.root / "labels.csv").write_text(content)
    done = project.cli("feedback", "labels.csv", check=False)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not list((project.root / "data").glob("feedback/*"))


def test_monitor_needs_a_log_or_a_batch(project):
    done = project.cli("monitor")  # a model not served yet is a state, not an error: it says so, and checks nothing
    assert "no live predictions yet" in done.stdout and "mlops-nb monitor --batch FILE" in done.stdout
    assert not (project.root / "data/monitoring/report.html").exists()


def test_monitor_a_batch_file(project):
    test = pd.read_parquet(project.root / "data/pipeline/prepare/test.parquet").drop(columns=["Status"])
    test.assign(Age=test.Age + 25).to_csv(project.root / "older.csv", index=False)  # unscored: scored on the way
    out = project.cli("monitor", "--batch", "older.csv").stdout
    assert "120 rows of /" in out and "older.csv;" in out and "features drifted: Age" in out and "prediction drift" in out


def test_the_monitor_stage_reads_the_prediction_log(project):
    simulate_log(project)
    assert project.run("--param", "drift_p_value=0.02") == {"monitor"}  # a parameter of the monitor stage alone
    drift = pd.read_csv(project.root / "data/pipeline/monitor/drift.csv")
    assert "Income" in set(drift[drift.drifted].feature) <= {"Income", "Home"}  # Home: the unseen 'boat'

    nb = nbformat.read(project.root / "data/pipeline/monitor/report.ipynb", as_version=4)
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3  # drift per feature, drift per day, score distribution (no feedback yet)
    assert "120 rows of prediction log" in "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def generated(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    "`rows` rows of 8 standard normal features and 2 categories cut from normals; n0, n1 and c0 moved by `shift` sd."
    rng = np.random.default_rng(seed)
    cuts = [-np.inf, -1, -0.3, 0.4, 1.2, np.inf]
    df = pd.DataFrame({f"n{i}": rng.normal(shift if i < 2 else 0, 1, rows) for i in range(8)})
    for i in range(2):
        df[f"c{i}"] = pd.cut(rng.normal(shift if i == 0 else 0, 1, rows), cuts, labels=list("abcde")).astype(str)
    return df


def test_a_shift_of_0_3_sd_at_10k_rows_is_flagged_and_unshifted_data_is_not():
    from mlops_nb.alerts import decide_alerts
    from mlops_nb.drift import drift_report, numeric_drift, profile
    reference = generated(10_000, 0)
    prof = profile(reference, [f"n{i}" for i in range(8)], ["c0", "c1"], scores=1 / (1 + np.exp(-reference.n0)))
    shifted = drift_report(prof, generated(10_000, 1, shift=0.3))
    assert set(shifted[shifted.drifted].feature) == {"n0", "n1", "c0"}
    # each feature's values are in the report, so a person sees how close it came to each criterion
    row = shifted.set_index("feature").loc["n0"]
    assert row.measure == "wasserstein/sd" and 0.25 < row.effect_size < 0.35 and row.threshold == 0.1
    assert row.test == "ks" and row.p_value < 1e-10 and row.p_value <= row.p_adjusted < 0.01 and row.statistic > 0.08
    assert 0.06 < row.psi < 0.12  # the old rule's PSI: under its 0.2, so the old rule missed this shift
    cat = shifted.set_index("feature").loc["c0"]
    assert cat.measure == "cohen_w" and 0.2 < cat.effect_size < 0.35 and cat.test == "chi2"
    for seed in range(1, 6):  # unshifted data, five seeds: nothing drifts
        same = drift_report(prof, generated(10_000, 10 + seed))
        assert not same.drifted.any(), same
        assert (same.effect_size < 0.1).all() and (same.p_adjusted >= same.p_value).all()
    # the scores: the same rule (prediction drift)
    t = {"drift_threshold": 0.1, "drift_p_value": 0.01, "max_missing_rate": 0.5, "min_live_roc_auc": 0.0}
    moved = numeric_drift(prof["prediction"], 1 / (1 + np.exp(-generated(10_000, 2, shift=0.3).n0)))
    kept = numeric_drift(prof["prediction"], 1 / (1 + np.exp(-generated(10_000, 3).n0)))
    assert [a["kind"] for a in decide_alerts(same.iloc[:0], moved, None, t)] == ["prediction_drift"]
    assert decide_alerts(same.iloc[:0], kept, None, t) == []


def test_the_old_drift_parameter_is_refused_naming_the_new_one(project):
    project.edit("env.yaml", "drift_threshold: 0.1", "drift_psi_threshold: 0.2")
    err = project.fails("monitor")
    assert "drift_psi_threshold" in err and "drift_threshold: 0.1" in err
