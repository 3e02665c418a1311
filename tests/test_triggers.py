"""Continuous training: triggers (data, code, alert, schedule) start runs, and one run lock keeps runs apart."""
import fcntl
import json
import re
import subprocess
import threading


from conftest import CLI, wait_for


def versions(project) -> int:
    return len(project.registry().search_model_versions("name='credit-risk'"))


def schedule_once(project, *args) -> str:
    return project.cli("schedule", "--env", "env.test.yaml", "--once", *args).stdout


def ran(out: str) -> set:
    "The stages a scheduler's output says it ran."
    found = re.search(r"-> ran (.*)$", out, re.M)
    return set(found.group(1).split(", ")) if found else set()


def test_nothing_fires_on_an_up_to_date_project(project):
    assert "default: nothing fires" in project.cli("triggers", "--env", "env.test.yaml").stdout
    out = schedule_once(project)
    assert "scheduling default (on triggers only)" in out and not ran(out)


def test_new_data_and_changed_code_trigger_a_run(project):
    data = project.root / "data/raw/credit_data.csv"
    data.write_text(data.read_text() + data.read_text().splitlines()[1] + "\n")  # one more row
    project.edit("nbs/pipeline/70_register.ipynb", "model_name).head(10)", "model_name).head(5)")  # new code
    fired = project.cli("triggers", "--env", "env.test.yaml").stdout
    assert "data: stage ingest: input file of data_path changed" in fired
    assert "code: stage register: stage notebook code changed" in fired
    out = schedule_once(project)
    assert {"ingest", "train", "register"} <= ran(out)
    assert "nothing fires" in project.cli("triggers", "--env", "env.test.yaml").stdout


def test_an_alert_retrains_and_the_gates_decide(project):
    before = versions(project)
    alerts = project.root / "data/monitoring/alerts.jsonl"
    alerts.parent.mkdir(parents=True, exist_ok=True)
    with alerts.open("a") as f:
        f.write(json.dumps({"time": "2026-11-26T00:00:00+00:00", "kind": "drift", "feature": "Income",
                            "value": 0.5, "threshold": 0.2, "message": "Income drifted"}) + "\n")
    out = schedule_once(project)
    assert "alert: 1 new alert(s)" in out and {"ingest", "train", "register"} <= ran(out)  # forced: a retrain
    assert versions(project) == before + 1  # retrained and registered; the gates decided about champion
    assert "nothing fires" in project.cli("triggers", "--env", "env.test.yaml").stdout  # the alert was seen


def test_a_schedule_is_due_at_first_and_then_after_its_interval(project):
    out = schedule_once(project, "--every", "1d")
    assert "schedule: every 86400 s, never run by the scheduler" in out
    assert "nothing fires" in project.cli("triggers", "--env", "env.test.yaml", "--every", "1d").stdout
    assert "schedule: every 1 s, due since" in project.cli("triggers", "--env", "env.test.yaml", "--every", "1s").stdout
    bad = project.cli("schedule", "--every", "soon", check=False)
    assert bad.returncode == 2 and "use e.g. 45s, 30m, 1h30m or 1d" in bad.stderr


def test_a_run_waits_for_the_run_in_progress(project):
    lock = (project.root / "data/.run.lock").open("a+")
    fcntl.flock(lock, fcntl.LOCK_EX)  # another run holds the project
    lock.write("pid 4242 since now")
    lock.flush()
    waiting = subprocess.Popen([str(CLI), "run", "--env", "env.test.yaml"], cwd=project.root, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**project.env(), "PYTHONUNBUFFERED": "1"})
    try:
        said = []
        threading.Thread(target=lambda: said.extend(waiting.stderr), daemon=True).start()  # readline would block
        wait_for(lambda: any("waiting for another run of this project to finish (pid 4242" in s for s in said),
                 "the second run to say it waits")
        assert waiting.poll() is None  # it waits, it does not run alongside
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    assert waiting.wait(timeout=600) == 0, "".join(said)
