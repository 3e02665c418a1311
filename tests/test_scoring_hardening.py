"""Scoring, feedback and monitoring refuse bad input with one clear line, and never lose or half-write a file: the input
is never overwritten, outputs need --force, unreadable files and unwritable folders are clear errors, temporary files
do not outlive their run, and monitoring reads its own model's predictions only, recording all or nothing."""
import hashlib
import os
import re
import subprocess
import sys

import pandas as pd
import pytest

from mlops_nb.config import ConfigError, DataError, Project, RegistryError


def batch(project, rows: int | None = None) -> pd.DataFrame:
    "The test split without its label: the rows the score stage scored."
    df = pd.read_parquet(project.root / "data/pipeline/prepare/test.parquet").drop(columns=["Status"])
    return df if rows is None else df.head(rows)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder) -> list:
    "Temporary files of an atomic write left in `folder`."
    return sorted(p.name for p in folder.glob(".*.tmp-*"))


def score(project, input, output, **kw) -> dict:
    "Score in-process with the project's champion (paths relative to the project)."
    from mlops_nb.scoring import score_file
    return score_file(Project(project.root), input, output, progress=False, **kw)


class Files:
    "A scratch folder of files scored by the built project's champion (its registry only read): no project copy."

    def __init__(self, built, root):
        self.built, self.root = built, root

    def score(self, input, output, **kw) -> dict:
        return score(self.built, self.root / input, self.root / output, **kw)


@pytest.fixture
def files(built, tmp_path) -> Files:
    return Files(built, tmp_path)


# --- 1. the input is never the output; an existing output needs --force; the output folder must exist ---------------

def test_score_in_in_refuses_and_keeps_the_input(project):
    batch(project).to_csv(project.root / "in.csv", index=False)
    before = digest(project.root / "in.csv")
    assert "is the input file" in project.fails("score", "in.csv", "in.csv")
    (project.root / "link.csv").symlink_to(project.root / "in.csv")
    assert "is the input file" in project.fails("score", "in.csv", "link.csv", "--force")  # --force does not help
    assert digest(project.root / "in.csv") == before and len(pd.read_csv(project.root / "in.csv")) == 120
    assert not leftovers(project.root)


@pytest.mark.parametrize("make, output", [
    (lambda d: None, "sub/../in.csv"),  # another spelling
    (lambda d: os.link(d / "in.csv", d / "hard.csv"), "hard.csv"),  # a hard link: the same file by samefile
    (lambda d: (d / "sub").mkdir() or (d / "sub/in.csv").symlink_to(d / "in.csv"), "sub/in.csv"),  # a symlink
])
def test_the_same_file_through_another_path_is_refused(files, make, output):
    batch(files.built, 20).to_csv(files.root / "in.csv", index=False)
    make(files.root)
    before = digest(files.root / "in.csv")
    with pytest.raises(DataError, match="is the input file"):
        files.score("in.csv", output, force=True)
    assert digest(files.root / "in.csv") == before


def test_the_rejects_file_may_not_be_the_input(files):
    batch(files.built, 20).to_csv(files.root / "out.rejects.csv", index=False)
    before = digest(files.root / "out.rejects.csv")
    with pytest.raises(DataError, match=r"\(the rejects file of the output\) is the input file"):
        files.score("out.rejects.csv", "out.csv", force=True)
    assert digest(files.root / "out.rejects.csv") == before and not (files.root / "out.csv").exists()


def test_an_existing_output_or_rejects_file_needs_force(project):
    df = batch(project).astype({"Income": object})
    df.loc[df.index[3], "Income"] = "lots"  # one reject
    df.to_csv(project.root / "in.csv", index=False)
    score(project, "in.csv", "out.csv")
    first = digest(project.root / "out.csv"), digest(project.root / "out.rejects.csv")
    assert "out.csv exists: pass --force" in project.fails("score", "in.csv", "out.csv")
    assert digest(project.root / "out.csv") == first[0]
    (project.root / "out.csv").unlink()
    with pytest.raises(DataError, match="out.rejects.csv exists: pass --force"):  # its rejects file too
        score(project, "in.csv", "out.csv")
    assert digest(project.root / "out.rejects.csv") == first[1]
    batch(project, 10).to_csv(project.root / "in.csv", index=False)
    assert "10 of 10 rows scored" in project.cli("score", "in.csv", "out.csv", "--force").stdout
    assert len(pd.read_csv(project.root / "out.csv")) == 10
    assert not (project.root / "out.rejects.csv").exists()  # no rejects this time: the old file would mislead


def test_a_missing_output_folder_is_an_error_not_created(project):
    batch(project, 5).to_csv(project.root / "in.csv", index=False)
    err = project.fails("score", "in.csv", "no/such/out.parquet")
    assert f"The output folder {project.root / 'no/such'} does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (project.root / "no").exists()


# --- 2. unreadable inputs, bad chunk sizes, unwritable outputs, temporary files ---------------------------------------

@pytest.mark.parametrize("name, content, message", [
    ("garbage.csv", b"\x00\xff\xfe\x01garbage\x02", "is not UTF-8 text"),
    ("empty.csv", b"", "is empty"),
    ("header.csv", b"Seniority,Home,Time,Age,Marital,Records,Job,Expenses,Income,Assets,Debt,Amount,Price\n",
     "has no rows to score (a header only)"),
    ("fake.parquet", b"Seniority,Home\n1,rent\n", "is not a readable Parquet file"),
    ("rows.json", b"[]", "score a .csv or .parquet file"),
    ("missing.csv", None, "does not exist"),
])
def test_unreadable_inputs_are_one_clear_error_and_write_nothing(files, name, content, message):
    if content is not None:
        (files.root / name).write_bytes(content)
    with pytest.raises(DataError, match=re.escape(message)):
        files.score(name, "out.csv")
    assert not (files.root / "out.csv").exists() and not leftovers(files.root)


def test_a_folder_as_input_is_refused(files):
    (files.root / "batches").mkdir()
    with pytest.raises(DataError, match="is a folder: give one CSV or Parquet file"):
        files.score("batches", "out.csv")
    from mlops_nb.monitoring import monitor
    from mlops_nb.prediction_log import feedback
    with pytest.raises(DataError, match="batches is a folder: give the CSV of request_id"):
        feedback(Project(files.root), files.root / "batches", "Status", ["good", "bad"])
    with pytest.raises(DataError, match="batches is a folder: give a CSV or Parquet file of model inputs"):
        monitor(Project(files.built.root), source=files.root / "batches")


def test_bad_files_through_the_cli_exit_2_with_one_line(project):
    (project.root / "garbage.csv").write_bytes(os.urandom(2000))
    batch(project, 5).to_csv(project.root / "in.csv", index=False)
    for args, message in [(("garbage.csv", "o.csv"), "garbage.csv"),
                          (("in.csv", "o.csv", "--chunk-rows", "0"), "at least 1, not 0")]:
        err = project.fails("score", *args)
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (project.root / "o.csv").exists() and not leftovers(project.root)


@pytest.mark.parametrize("chunk_rows", [0, -1, 2.5])
def test_chunk_rows_below_one_is_refused(files, chunk_rows):
    batch(files.built, 5).to_csv(files.root / "in.csv", index=False)
    with pytest.raises(ConfigError, match="a whole number of at least 1"):
        files.score("in.csv", "out.csv", chunk_rows=chunk_rows)


def test_an_output_that_cannot_be_written(files):
    "As root, permissions do not stop a write: /proc takes no new files, whoever asks."
    batch(files.built, 5).to_csv(files.root / "in.csv", index=False)
    with pytest.raises(DataError, match="Cannot write /proc/out.csv"):
        files.score("in.csv", "/proc/out.csv")
    (files.root / "afile").write_text("x")
    with pytest.raises(DataError, match="afile is not a folder"):
        files.score("in.csv", "afile/out.csv")


def test_a_failure_mid_file_keeps_the_old_output_and_leaves_no_temporary(files):
    batch(files.built, 10).to_csv(files.root / "in.csv", index=False)
    files.score("in.csv", "out.parquet")
    before = digest(files.root / "out.parquet")
    good = (files.root / "in.csv").read_text()
    (files.root / "in.csv").write_text(good + good.splitlines()[1] + ',"unterminated\n')  # breaks the last chunk
    with pytest.raises(DataError, match="is not a readable CSV file"):
        files.score("in.csv", "out.parquet", chunk_rows=4, force=True)
    assert digest(files.root / "out.parquet") == before and not leftovers(files.root)


def test_temporaries_of_a_killed_run_are_removed_by_the_next_one(files):
    batch(files.built, 5).to_csv(files.root / "in.csv", index=False)
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [files.root / f".out.csv.tmp-{dead}", files.root / f".out.rejects.csv.tmp-{dead}"]
        running = files.root / f".out.csv.tmp-{alive.pid}"  # another run, still writing
        for path in (*stale, running):
            path.write_text("half a file")
        files.score("in.csv", "out.csv")
        assert not any(p.exists() for p in stale) and running.exists()
        assert len(pd.read_csv(files.root / "out.csv")) == 5
    finally:
        alive.kill()
        alive.wait()


# --- unknown model or alias: the error names what exists --------------------------------------------------------------

def test_unknown_model_or_alias_names_what_exists(project):
    batch(project, 5).to_csv(project.root / "in.csv", index=False)
    err = project.fails("score", "in.csv", "out.csv", "--model", "credit-rsk")
    assert "no model of that name is registered (the registry has credit-risk)" in err
    from mlops_nb.monitoring import monitor
    with pytest.raises(RegistryError, match=r"has no version with alias 'Champion': its aliases are challenger \(v1\), "
                                            r"champion \(v1\)"):
        monitor(Project(project.root), alias="Champion")
    assert not (project.root / "out.csv").exists()


def test_cli_defaults_are_the_library_functions(built):
    import inspect
    from mlops_nb.scoring import score_file
    default = inspect.signature(score_file).parameters["chunk_rows"].default
    assert f"rows scored at a time (default: {default})" in " ".join(built.cli("score", "--help").stdout.split())


# --- 3. feedback and --since --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xd8", "is not UTF-8 text"),
    (b"", "is empty"),
    (b"request_id,Status\n", "has no labels (a header only)"),
    (b"id,Status\nreq-0,bad\n", "has no request_id column"),
    (b"request_id,Status\nreq-0,1\n", "label(s) outside ['good', 'bad']"),  # not among the model's labels
])
def test_bad_feedback_files_store_nothing(tmp_path, content, message):
    from mlops_nb.prediction_log import feedback
    (tmp_path / "labels.csv").write_bytes(content)
    with pytest.raises(DataError, match=re.escape(message)):
        feedback(Project(tmp_path), tmp_path / "labels.csv", "Status", ["good", "bad"])  # the project's target, labels
    assert not (tmp_path / "data").exists()


def test_feedback_and_since_through_the_cli(project):
    (project.root / "labels.csv").write_bytes(b"\xff\xfe\x00\x01")
    assert "is not UTF-8 text" in project.fails("feedback", "labels.csv")
    assert "'notadate' is not a date or time: give one in ISO 8601" in project.fails("monitor", "--since", "notadate")
    from mlops_nb.monitoring import monitor
    write_log(project, "credit-risk", 20)
    future = monitor(Project(project.root), since="2099-01-01")  # fine: nothing matched, as `mlops-nb monitor` prints
    assert future.rows == 0 and "(nothing in the prediction log since 2099-01-01 00:00:00 UTC matched" in future.summary()


# --- 4. monitoring reads its own model's predictions only -------------------------------------------------------------

def write_log(project, name: str, rows: int, version: int = 1, day: str = "2026-03-01"):
    "`rows` logged predictions of model `name` (the scored test rows), as the server logs them."
    import json
    from mlops_nb.prediction_log import write_prediction_log
    spec = json.loads((project.root / "data/pipeline/features/feature_spec.json").read_text())
    scored = pd.read_parquet(project.root / "data/pipeline/score/scores.parquet").head(rows)
    scored = scored.assign(request_id=[f"{name}-{i}" for i in range(len(scored))], row=0, latency_ms=1.0,
                           model_name=name, model_version=version,
                           time=pd.date_range(f"{day} 08:00", periods=len(scored), freq="min", tz="UTC"))
    write_prediction_log(Project(project.root), scored, spec["numeric"] + spec["categorical"], host=name)


def test_the_monitor_stage_passes_with_only_another_models_predictions(project):
    write_log(project, "other-model", 30)
    assert project.run("--stage", "monitor", "--force") == {"monitor"}
    report = (project.root / "data/pipeline/monitor/report.ipynb").read_text()
    assert "no live predictions of credit-risk yet: checking the batch scored by the score stage" in report
    assert len(pd.read_csv(project.root / "data/pipeline/monitor/drift.csv")) == 13


def test_monitor_counts_its_own_models_rows_only(project):
    from mlops_nb.monitoring import monitor
    p = Project(project.root)
    write_log(project, "other-model", 30)
    empty = monitor(p)
    assert empty.rows == 0 and not empty.alerts and "no live predictions yet" in empty.summary()
    write_log(project, "credit-risk", 50, version=project.champion())
    mine = monitor(p)
    assert mine.rows == 50 and len(mine.scores) == 50 and mine.source == "prediction log"


# --- 5. the report and the alert log: all or nothing --------------------------------------------------------------------

def drifted_batch(project):
    test = batch(project)
    test.assign(Age=test.Age + 25).to_csv(project.root / "older.csv", index=False)  # raises a drift alert


def test_an_unwritable_monitoring_folder_records_nothing(project):
    drifted_batch(project)
    folder = project.root / "data/monitoring"
    if folder.exists():
        import shutil
        shutil.rmtree(folder)
    folder.write_text("a file where the folder should be")  # as root, a read-only folder would not stop a write
    err = project.fails("monitor", "--batch", "older.csv")
    assert "Cannot write the monitoring results" in err and "Nothing was recorded" in err
    assert len(err.strip().splitlines()) == 1 and folder.read_text() == "a file where the folder should be"


def test_a_report_that_cannot_be_written_logs_no_alert(project):
    from mlops_nb.alerts import alert_log
    from mlops_nb.monitoring import monitor
    drifted_batch(project)
    p = Project(project.root)
    logged = len(alert_log(p).read_text().splitlines()) if alert_log(p).exists() else 0
    with pytest.raises(DataError, match="Nothing was recorded: no alert logged"):
        monitor(p, source=project.root / "older.csv", report="/proc/no/report.html")
    assert (len(alert_log(p).read_text().splitlines()) if alert_log(p).exists() else 0) == logged
    done = monitor(p, source=project.root / "older.csv", report=project.root / "data/monitoring/report.html")
    assert done.alerts and len(alert_log(p).read_text().splitlines()) == logged + len(done.alerts)
    assert "Age drifted" in (project.root / "data/monitoring/report.html").read_text()
