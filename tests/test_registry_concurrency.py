"""The audit log under concurrency, registrations finished after an interruption, rollbacks that walk back."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict

import pytest

from conftest import CLI, free_port, wait_for
from mlops_nb.records import Evaluation, Registration, TrainingRun

NAME = "credit-risk"


@pytest.fixture
def embedded(monkeypatch):
    "The library in this process on a project's embedded store (no tracking server from the environment)."
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


def lib(project):
    "The `mlops_nb` project object of a test project."
    from mlops_nb.config import Project
    return Project(project.root)


def add_versions(project, n: int, name: str = NAME) -> list:
    "`n` more versions of `name` that passed their gates (copies of version 1's model): their numbers."
    import mlflow
    uri = f"sqlite:///{project.root / 'data/mlflow.db'}"
    mlflow.set_tracking_uri(uri)  # MLflow looks the logged model of a `models:/` source up in the process's store
    c = project.registry()
    v1 = c.get_model_version(name, "1")
    return [int(c.create_model_version(name, v1.source, v1.run_id, tags={"gate_passed": "true"}).version)
            for _ in range(n)]


def audit_entries(tags: dict) -> list:
    "The audit entries in a registered model's tags, oldest first: counters audit.NNNNN, then time-ordered keys."
    def order(key):
        stamp = key.removeprefix("audit.")
        return (0, int(stamp), "") if stamp.isdigit() else (1, 0, stamp)
    return [json.loads(tags[k]) for k in sorted((k for k in tags if k.startswith("audit.")), key=order)]


def champion_moves(tags: dict) -> list:
    "The champion entries of a registered model's audit log, oldest first."
    return [e for e in audit_entries(tags) if e["alias"] == "champion"]


def assert_chained(moves: list):
    "Each move starts where the one before it ended."
    assert [m["from"] for m in moves[1:]] == [m["to"] for m in moves[:-1]], moves


def promote_in_threads(projects: list, versions: list, timeout: float = 180) -> list:
    "Promote `versions[i]` in project `projects[i]`, one thread each, all at once: the errors raised."
    from mlops_nb.registry import promote
    errors, start = [], threading.Barrier(len(versions))

    def one(p, v):
        try:
            start.wait(30)
            promote(p, NAME, v, f"thread-{v}", "race")
        except Exception as e:  # reported by the test, not lost in the thread
            errors.append(e)
    threads = [threading.Thread(target=one, args=(p, v)) for p, v in zip(projects, versions)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "promotions still running after the timeout"
    return errors


def test_eight_threads_promoting_on_the_embedded_store(project, embedded):
    c = project.registry()
    versions = add_versions(project, 8)
    assert promote_in_threads([lib(project)] * 8, versions) == []
    moves = champion_moves(c.get_registered_model(NAME).tags)
    raced = [m for m in moves if m["reason"] == "race"]
    assert len(raced) == 8 and sorted(m["to"] for m in raced) == versions  # every move recorded once
    assert_chained(moves)  # ... with its true `from`
    assert project.champion() == moves[-1]["to"]


# `mlops-nb ARGS` in a process that imports everything and opens the store, says so (file DIR/ready-PID), and starts
# when DIR/go appears: two of them run within milliseconds of each other, not a second apart as two cold starts would.
CLI_AT_SIGNAL = """
import os, sys, time
from pathlib import Path
import mlops_nb.cli, mlops_nb.config, mlops_nb.registry
mlops_nb.registry.client(mlops_nb.config.project()).search_registered_models()
signals = Path(sys.argv[1])
(signals / f"ready-{os.getpid()}").touch()
deadline = time.monotonic() + 120
while not (signals / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.002)
sys.exit(mlops_nb.cli.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("round", range(3))  # the race is a matter of milliseconds: the code before lost it 1 in 2
def test_two_parallel_cli_promotes_are_chained(project, tmp_path, round):
    v2, v3 = add_versions(project, 2)
    c = project.registry()
    procs = [subprocess.Popen([sys.executable, "-c", CLI_AT_SIGNAL, str(tmp_path), "promote", NAME, str(v), "--by",
                               f"p{v}", "--reason", "parallel"], cwd=project.root, env=project.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for v in (v2, v3)]
    wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 2, "both commands to be ready", timeout=120)
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    moves = champion_moves(c.get_registered_model(NAME).tags)
    assert [m["reason"] for m in moves] == ["gates passed", "parallel", "parallel"], moves
    assert_chained(moves)
    assert moves[1]["from"] == 1 and {moves[1]["to"], moves[2]["to"]} == {v2, v3}
    assert project.champion() == moves[-1]["to"]


def test_eight_writers_sharing_only_a_tracking_server(tracking_server, tmp_path, monkeypatch):
    "Eight threads, each in a project folder of its own (no file lock in common), promoting on one server."
    from mlflow import MlflowClient
    from mlops_nb.config import Project
    from mlops_nb.registry import promote
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    c = MlflowClient(tracking_server, registry_uri=tracking_server)
    run = c.create_run(c.create_experiment(f"concurrency-{free_port()}"))
    c.create_registered_model(NAME)
    versions = [int(c.create_model_version(NAME, f"runs:/{run.info.run_id}/model", run.info.run_id,
                                           tags={"gate_passed": "true"}).version) for _ in range(9)]
    projects = [Project(tmp_path / f"machine-{i}") for i in range(9)]
    promote(projects[8], NAME, versions[8], "setup", "first champion")
    started = time.monotonic()
    assert promote_in_threads(projects[:8], versions[:8]) == []
    moves = champion_moves(c.get_registered_model(NAME).tags)
    assert [m["reason"] for m in moves].count("race") == 8 and len(moves) == 9, moves
    assert_chained(moves)
    assert int(c.get_model_version_by_alias(NAME, "champion").version) == moves[-1]["to"]
    assert not [k for k in c.get_registered_model(NAME).tags if k.startswith("lock.")]  # every lock ticket removed
    print(f"8 concurrent promotions through the server: {time.monotonic() - started:.1f} s")


def test_a_dead_writers_lock_ticket_is_ignored_after_its_lease(project, embedded, monkeypatch):
    "A writer killed while holding the registry's tag lock leaves a ticket: others wait out its lease, then remove it."
    from mlops_nb import registry
    monkeypatch.setattr(registry, "LEASE_SECONDS", 1.0)
    c = project.registry()
    c.set_registered_model_tag(NAME, "lock.deadbeef", json.dumps({"n": 1, "renewed": "x"}))
    started = time.monotonic()
    with registry._tag_lock(lib(project), NAME, timeout=20):
        waited = time.monotonic() - started
    assert 1.0 <= waited < 10, waited
    assert not [k for k in c.get_registered_model(NAME).tags if k.startswith("lock.")]


def test_a_move_made_outside_mlops_nb_is_recorded(project, embedded):
    from mlops_nb.registry import promote
    c = project.registry()
    v2, v3 = add_versions(project, 2)
    c.set_registered_model_alias(NAME, "champion", str(v2))  # e.g. in the MLflow UI: no audit entry
    promote(lib(project), NAME, v3, "ana", "next")
    moves = champion_moves(c.get_registered_model(NAME).tags)
    assert [(m["from"], m["to"], m["who"]) for m in moves] == [(None, 1, "pipeline"), (1, v2, "unknown"), (v2, v3, "ana")]


def test_audit_keys_of_older_registries_are_still_read(project, embedded):
    "A log written with the counters audit.NNNNN, then a move: the history keeps the old entries first, and in order."
    from mlops_nb.registry import audit_log, promote, rollback
    c = project.registry()
    v2, v3 = add_versions(project, 2)
    for key in [k for k in c.get_registered_model(NAME).tags if k.startswith("audit.")]:
        c.delete_registered_model_tag(NAME, key)
    old = [("challenger", None, 1, "registered"), ("champion", None, 1, "gates passed"),
           ("champion", 1, v2, "ok"), ("champion", v2, 1, "rollback: undo")]
    for i, (alias, before, to, reason) in enumerate(old):
        c.set_registered_model_tag(NAME, f"audit.{i:05d}", json.dumps(
            {"time": "2026-01-01T00:00:00+00:00", "who": "old", "alias": alias, "from": before, "to": to,
             "reason": reason}))
    promote(lib(project), NAME, v3, "ana", "new")
    log = audit_log(lib(project), NAME)
    assert log.reason.tolist() == ["registered", "gates passed", "ok", "rollback: undo", "new"]
    assert rollback(lib(project), NAME, "ana", "again") == 1  # the old rollback undid v2: back to v1, not v2
    assert "no previous champion" in project.fails("rollback", NAME, "--by", "a", "--reason", "b")
    history = project.cli("models", "history", NAME).stdout
    assert "rollback: undo" in history and "rollback: again" in history


def test_rollback_walks_back_one_champion_at_a_time(project):
    v2, v3 = add_versions(project, 2)
    for v in (v2, v3):
        project.cli("promote", NAME, str(v), "--by", "ana", "--reason", "newer")
    assert f"rolled back to v{v2}" in project.cli("rollback", NAME, "--by", "ana", "--reason", "r1").stdout
    assert "rolled back to v1" in project.cli("rollback", NAME, "--by", "ana", "--reason", "r2").stdout
    assert project.champion() == 1
    error = project.fails("rollback", NAME, "--by", "ana", "--reason", "r3")
    assert "no previous champion" in error and "v1" in error
    assert project.champion() == 1


def interrupt_registration(c, version: int, keep_log: bool = False):
    "Undo what a registration writes after creating the version: its aliases, its audit entries, its complete tag."
    c.delete_model_version_tag(NAME, str(version), "registration")
    for alias in ("challenger", "champion"):
        c.delete_registered_model_alias(NAME, alias)
    if not keep_log:
        for key in [k for k in c.get_registered_model(NAME).tags if k.startswith("audit.")]:
            c.delete_registered_model_tag(NAME, key)


def assert_registered_once(c, version: int):
    "One version, complete: both aliases on it, and one audit entry per alias."
    assert [int(mv.version) for mv in c.search_model_versions(f"name='{NAME}'")] == [version]
    assert c.get_model_version(NAME, str(version)).tags.get("registration") == "complete"
    assert {a: int(v) for a, v in c.get_registered_model(NAME).aliases.items()} == \
        {"challenger": version, "champion": version}
    entries = audit_entries(c.get_registered_model(NAME).tags)
    assert [(e["alias"], e["to"], e["reason"]) for e in entries] == \
        [("challenger", version, "registered"), ("champion", version, "gates passed")], entries


def test_a_rerun_finishes_an_interrupted_registration(project):
    c = project.registry()
    interrupt_registration(c, 1)  # as if killed just after the version was created
    project.products("register")["registered"].unlink()  # so the register stage reruns
    assert "register" in project.run()
    assert_registered_once(c, 1)
    registered = Registration.read(project.products("register")["registered"])
    assert registered.version == 1 and registered.resumed is True


def test_register_finishes_a_move_logged_before_the_kill(project, embedded):
    "Killed between logging a move and setting the alias: the alias is set, the move not logged twice."
    from mlops_nb.evaluate import Verdict
    from mlops_nb.registry import register
    c = project.registry()
    interrupt_registration(c, 1, keep_log=True)
    run = TrainingRun.read(project.products("train")["run"])
    evaluation = Evaluation.read(project.products("evaluate")["evaluation"])
    decision = evaluation.threshold
    lineage = {**run.lineage, "decision_threshold": decision["threshold"], "decision_rule": decision["statement"]}
    run = asdict(run)
    done = register(lib(project), NAME, run, Verdict(**evaluation.verdict), lineage)
    assert (done["version"], done["resumed"]) == (1, True)
    assert_registered_once(c, 1)
    failed = register(lib(project), NAME, run, Verdict(False, ["another evaluation"]), lineage)
    assert failed["version"] == 2  # the same run with another evaluation is another version


def test_kill_9_during_register_then_rerun(project):
    "A real SIGKILL of the pipeline as soon as the new version appears; the rerun makes no second version of it."
    c = project.registry()
    args = [str(CLI), "run", "--env", "env.test.yaml", "--param", "seed=11"]
    proc = subprocess.Popen(args, cwd=project.root, env=project.env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: proc.poll() is not None or len(c.search_model_versions(f"name='{NAME}'")) > 1,
                 "version 2 to appear", timeout=600)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    project.run("--param", "seed=11")
    versions = sorted(int(mv.version) for mv in c.search_model_versions(f"name='{NAME}'"))
    assert versions == [1, 2], versions
    v2 = c.get_model_version(NAME, "2")
    assert v2.tags.get("registration") == "complete"
    assert int(c.get_model_version_by_alias(NAME, "challenger").version) == 2
    entries = audit_entries(c.get_registered_model(NAME).tags)
    assert [e["to"] for e in entries if e["alias"] == "challenger"] == [1, 2], entries


def test_promote_waits_for_a_pipeline_run_in_progress(project, embedded):
    "While a run holds the project's run lock (its register stage may be moving aliases), a person's promote waits."
    from mlops_nb.config import run_lock
    v2, = add_versions(project, 1)
    with run_lock(lib(project)):
        proc = subprocess.Popen([str(CLI), "promote", NAME, str(v2), "--by", "ana", "--reason", "later"],
                                cwd=project.root, env=project.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(8)  # long enough for the command to start and reach the lock
        assert proc.poll() is None and project.champion() == 1
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "waiting for another run" in err, (out, err)
    assert project.champion() == v2


def test_promote_beside_a_run_in_another_thread_of_the_same_process(project, embedded):
    "The registry view promotes in the kernel whose run form's thread holds the run lock: no wait for itself, no error."
    from mlops_nb.config import run_lock
    from mlops_nb.registry import promote
    v2, = add_versions(project, 1)
    held, release = threading.Event(), threading.Event()

    def pipeline_run():
        with run_lock(lib(project)):
            held.set()
            release.wait(60)
    t = threading.Thread(target=pipeline_run)
    t.start()
    assert held.wait(30)
    try:
        promote(lib(project), NAME, v2, "ana", "from the registry view")
        assert project.champion() == v2
    finally:
        release.set()
        t.join(30)
    promote(lib(project), NAME, 1, "ana", "after the run")  # the run lock was released whole
    assert project.champion() == 1


def test_bad_governance_input_is_one_clear_line_and_moves_nothing(project):
    assert "--by must name who" in project.fails("promote", NAME, "1", "--by", " ", "--reason", "x")
    assert "--reason is 5000 characters long" in project.fails("promote", NAME, "1", "--by", "a", "--reason", "x" * 5000)
    assert "--note is 3000 characters long" in project.fails("approve", NAME, "1", "--by", "a", "--note", "x" * 3000)
    assert "No registered model named 'nope'" in project.fails("rollback", "nope", "--by", "a", "--reason", "b")
    assert "no version 7" in project.fails("promote", NAME, "7", "--by", "a", "--reason", "b")
    c = project.registry()
    assert [m["reason"] for m in champion_moves(c.get_registered_model(NAME).tags)] == ["gates passed"]
    assert "approved_by" not in c.get_model_version(NAME, "1").tags
