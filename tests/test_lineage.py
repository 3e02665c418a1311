"""Lineage holds under real use: stage notebooks run by hand, products edited by hand, runs killed at any stage."""
import os
import re
import signal
import subprocess
import threading
import time

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import CLI, STAGES, wait_for
from mlops_nb.data import DataVersion
from mlops_nb.records import Registration, Split, TrainingRun

NAME_MODEL = "credit-risk"


def run_by_hand(project, stage: str) -> str:
    "Execute stage notebook `stage` as it is (Run All in JupyterLab, product = None): the text of its outputs."
    path = project.root / "nbs/pipeline" / f"{stage}.ipynb"
    nb = nbformat.read(path, as_version=4)
    env = {**project.env(), "MLOPS_NB_ROOT": ""}  # found from the notebook's folder, as in JupyterLab
    saved = dict(os.environ)
    os.environ.update(PYTHONPATH=env["PYTHONPATH"])  # the kernel imports this project's copy of the library
    os.environ.pop("MLOPS_NB_ROOT", None)
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return "\n".join(o.get("text", "") or f"{o.get('ename', '')}: {o.get('evalue', '')}"
                     for c in nb.cells for o in c.get("outputs", []))


def product_bytes(project) -> dict:
    return {p: p.read_bytes() for p in (project.root / "data/pipeline").rglob("*") if p.is_file()}


def status(project, overrides=()) -> dict:
    "stage -> (status, why) for the test pipeline (with `--param` overrides)."
    from mlops_nb.config import Project
    from mlops_nb.pipeline import status as pipeline_status
    table = pipeline_status(Project(project.root), "env.test.yaml", list(overrides))
    return {r.stage: (r.status, r.why) for r in table.itertuples()}


def test_stages_run_by_hand_leave_the_pipeline_and_its_lineage_as_they_were(project):
    before, c = product_bytes(project), project.registry()
    pipeline_run = TrainingRun.read(project.products("train")["run"]).run_id
    thresholds = [m.value for m in c.get_metric_history(pipeline_run, "decision_threshold")]
    versions = len(c.search_model_versions(f"name='{NAME_MODEL}'"))

    out = run_by_hand(project, "50_train")
    assert "Run by hand: parameters of the pipeline's last build" in out and "data/scratch/train/" in out, out
    hand = c.get_run(TrainingRun.read(project.root / "data/scratch/train/run.json").run_id)  # where hand runs write
    assert hand.data.tags["run_by"] == "hand" and hand.info.run_name == "train (by hand)"
    trials = c.search_runs([hand.info.experiment_id], f"tags.mlflow.parentRunId = '{hand.info.run_id}'")
    assert len(trials) == 3  # env.test.yaml's tuning_trials, as the pipeline last built it (env.yaml says 12)

    out = run_by_hand(project, "60_evaluate")
    assert f"nothing logged to the pipeline's training run {pipeline_run}" in out, out
    assert (project.root / "data/scratch/evaluate/evaluation.json").is_file()
    out = run_by_hand(project, "70_register")
    assert "RegistryError: This notebook runs by hand: a version is registered only by a pipeline run" in out, out

    assert [m.value for m in c.get_metric_history(pipeline_run, "decision_threshold")] == thresholds
    assert len(c.search_model_versions(f"name='{NAME_MODEL}'")) == versions
    assert product_bytes(project) == before
    assert {s for s, (state, _) in status(project).items() if state != "up to date"} == set()
    assert project.run() == set()


def test_a_product_written_after_its_build_makes_it_and_downstream_outdated(project):
    run_json = project.products("train")["run"]
    run_json.write_text(run_json.read_text())  # the same bytes, written after the build, as an edit by hand would
    found = status(project)
    assert found["train"][0] == "outdated" and re.search(
        r"run.json changed at .*, after the stage's last build \(.*\): written by hand or by an interrupted run",
        found["train"][1]), found["train"]
    downstream = STAGES[STAGES.index("train"):]
    assert {s for s, (state, _) in found.items() if state == "outdated"} == set(downstream)
    assert project.run() == set(downstream)
    assert {state for state, _ in status(project).values()} == {"up to date"}


def _running_runs(c, training_only: bool = False) -> list:
    "The RUNNING MLflow runs of the store (only the training runs, not their tuning trials, if `training_only`)."
    experiments = [e.experiment_id for e in c.search_experiments()]
    runs = c.search_runs(experiments, "attributes.status = 'RUNNING'")
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags] if training_only else runs


KILLS = {  # stage -> how to make the next run build it again
    "ingest": ["--param", "data_seed=12"],
    "train": ["--param", "n_estimators=21"],
    "register": ["data/pipeline/register/registered.json"],
    "score": ["data/pipeline/score/scores.parquet"],
}


def _start(project, args):
    "`mlops-nb run` in its own process group, and an event set once its progress shows each stage as it starts."
    proc = subprocess.Popen([str(CLI), "run", "--env", "env.test.yaml", *args], cwd=project.root, env=project.env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    started, seen = {s: threading.Event() for s in STAGES}, []

    def read():
        while chunk := os.read(proc.stderr.fileno(), 4096):
            seen.append(chunk.decode(errors="replace"))
            for s in STAGES:
                if f"Building task '{s}'" in "".join(seen[-3:]):
                    started[s].set()
    threading.Thread(target=read, daemon=True).start()
    return proc, started


@pytest.mark.parametrize("stage", list(KILLS))
def test_kill_9_in_a_stage_then_rerun(project, stage):
    "A real SIGKILL while `stage` runs; the next run closes what it left, builds it again, and nothing looks finished."
    c, how = project.registry(), KILLS[stage]
    args = how if how[0] == "--param" else []
    for path in () if args else how:
        (project.root / path).unlink()
    proc, started = _start(project, args)
    try:
        wait_for(lambda: proc.poll() is not None or started[stage].is_set(), f"stage {stage} to start", timeout=600)
        if stage == "train":  # killed while its training run is open (a trial run may close in milliseconds)
            wait_for(lambda: proc.poll() is not None or _running_runs(c, training_only=True), "a training run to start",
                     timeout=600)
        else:
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    orphans = [r.info.run_id for r in _running_runs(c)]  # what the kill left RUNNING
    assert orphans or stage != "train", "no MLflow run was open when train was killed"

    done = project.cli("run", "--env", "env.test.yaml", *args)
    interrupted = re.search(r"An earlier run was interrupted in stage\(s\) (\w+)", done.stdout)
    assert interrupted and interrupted[1] in STAGES[STAGES.index(stage):], done.stdout  # killed there or later
    assert {state for state, _ in status(project, args[1:]).values()} == {"up to date"}
    assert _running_runs(c) == []
    for orphan in orphans if stage == "train" else ():  # the rerun of train reports what it closed
        assert c.get_run(orphan).info.status == "KILLED"
        train_report = (project.root / "data/pipeline/train/report.ipynb").read_text()
        assert "now marked KILLED" in train_report and orphan in train_report
    products = project.root / "data/pipeline"
    left = [p.name for p in products.rglob("*") if ".tmp-" in p.name or p.name.endswith(".last-good")
            or ".failed." in p.name]
    assert left == [], left
    for nb in products.glob("*/report.ipynb"):
        errors = [o for cell in nbformat.read(nb, as_version=4).cells for o in cell.get("outputs", [])
                  if o.output_type == "error"]
        assert not errors, (nb, errors)
    run = TrainingRun.read(project.products("train")["run"])
    data_version = DataVersion.read(project.products("ingest")["version"]).id
    assert run.lineage["data_version"] == data_version
    assert Split.read(project.products("prepare")["split"]).data_version == data_version
    assert c.get_run(run.run_id).info.status == "FINISHED"
    registered = Registration.read(project.products("register")["registered"])
    version = c.get_model_version(NAME_MODEL, str(registered.version))
    assert version.run_id == run.run_id and version.tags["data_version"] == data_version
