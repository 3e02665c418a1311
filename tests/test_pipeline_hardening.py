"""Bad inputs and broken states around the pipeline: paths that leave the project, an export onto a file, a failed
stage (its last good report kept, the run indexed, the stage outdated), unwritable product folders, stale ingest
files, an oversized sample, an empty feature, stage-parameter values YAML must keep, and two runs in one JupyterLab kernel."""
import json
import os
import subprocess
import weakref
from pathlib import Path

import pandas as pd
import pytest

from conftest import Project, copy_project


@pytest.fixture
def fresh(tmp_path) -> Project:
    "The project's files, nothing built."
    return Project(copy_project(tmp_path / "project"))


def mlflow_runs(project: Project) -> int:
    client = project.registry()
    return len(client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000))


def model_versions(project: Project) -> int:
    return len(project.registry().search_model_versions("name='credit-risk'"))


def break_validate(project: Project) -> dict:
    """Make the next validate run fail with nothing it is fingerprinted on changed: its upstream product names a data
    snapshot that is not there. Returns the record, to put back."""
    record = project.root / "data/pipeline/ingest/data_version.json"
    good, built = json.loads(record.read_text()), record.stat()
    record.write_text(json.dumps({**good, "path": str(project.root / "data/versions/gone.parquet")}))
    os.utime(record, ns=(built.st_atime_ns, built.st_mtime_ns))  # as its build left it: else ingest is outdated
    return good


def stage_status(project: Project) -> dict:
    out = project.cli("status", "--env", "env.test.yaml").stdout
    return {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}


# 1. products and docs stay inside the project

@pytest.mark.parametrize("product", ["data/pipeline/../../../x/report.ipynb", "/tmp/mlops-nb-elsewhere/report.ipynb"])
def test_a_product_outside_the_project_is_refused_by_every_command(fresh, product):
    fresh.edit("pipeline.yaml", "nb: data/pipeline/monitor/report.ipynb", f"nb: {product}")
    for args in (["status"], ["run", "--env", "env.test.yaml"], ["docs", "--no-execute"],
                 ["export", "airflow", "dags"], ["pipelines"]):
        err = fresh.fails(*args)
        assert f"Stage 'monitor' of pipeline.yaml: its product 'nb' {product} is outside the project folder" in err
    assert not (fresh.root / "dags").exists() and not (fresh.root / "data/docs").exists()
    assert not (fresh.root.parents[1] / "x").exists() and not Path("/tmp/mlops-nb-elsewhere").exists()


def test_a_stage_notebook_outside_the_project_is_refused(fresh):
    fresh.edit("pipeline.yaml", "source: nbs/pipeline/90_monitor.ipynb", "source: ../90_monitor.ipynb")
    assert "its notebook ../90_monitor.ipynb is outside the project folder" in fresh.fails("status")


def test_docs_out_must_be_a_folder_of_its_own(fresh):
    (fresh.root / "notes").mkdir()
    (fresh.root / "notes/mine.txt").write_text("mine")
    assert "is a file, not a folder" in fresh.fails("docs", "--no-execute", "--out", "pipeline.yaml")
    assert "is the project folder or holds it" in fresh.fails("docs", "--no-execute", "--out", ".")
    assert "is the project folder or holds it" in fresh.fails("docs", "--no-execute", "--out", "..")
    assert "is not a docs site built by mlops-nb" in fresh.fails("docs", "--no-execute", "--out", "notes")
    assert (fresh.root / "notes/mine.txt").read_text() == "mine" and (fresh.root / "pipeline.yaml").is_file()


def test_a_docs_page_that_would_resolve_outside_the_site_is_refused(tmp_path):
    from mlops_nb.config import ConfigError
    from mlops_nb.docs import site_file
    (tmp_path / "site").mkdir()
    (tmp_path / "site/reports").symlink_to(tmp_path)  # a link in the site pointing out of it
    assert site_file(tmp_path / "site", "api/x.html") == tmp_path / "site/api/x.html"
    for rel in ("../x.html", "reports/x.html"):
        with pytest.raises(ConfigError, match="outside the site folder"):
            site_file(tmp_path / "site", rel)


# 2. an export onto a file

def test_export_onto_an_existing_file_is_refused_and_writes_nothing(fresh):
    (fresh.root / "dags.txt").write_text("mine")
    for out in ("dags.txt", "dags.txt/sub"):
        assert "dags.txt is a file, not a folder" in fresh.fails("export", "airflow", out)
    assert (fresh.root / "dags.txt").read_text() == "mine"
    assert not [p for p in fresh.root.iterdir() if "dag" in p.name and p.name != "dags.txt"]


# 3. a failed run keeps the last good report, is indexed, and leaves the stage outdated

def test_a_failed_stage_keeps_its_last_good_report_and_stays_outdated(project):
    folder = project.root / "data/pipeline/validate"
    good = {name: (folder / name).read_bytes() for name in ("report.ipynb", "report.html")}
    index = project.root / "data/pipeline/index.html"
    index.write_text("stale")
    record = break_validate(project)
    err = project.fails("run", "--env", "env.test.yaml", "--stage", "validate", "--force")
    assert "Stage 'validate' failed" in err and "gone.parquet" in err, err
    assert "data/pipeline/validate/report.failed.ipynb" in err and "data/pipeline/validate/report.failed.html" in err
    assert "its last good report stays at data/pipeline/validate/report.html" in err
    assert {name: (folder / name).read_bytes() for name in good} == good  # the last good report, untouched
    assert (folder / "report.failed.ipynb").is_file() and (folder / "report.failed.html").is_file()
    assert "gone.parquet" in (folder / "report.failed.ipynb").read_text()
    status = stage_status(project)
    assert "outdated" in status["validate"] and "last run failed at" in status["validate"], status["validate"]
    assert "outdated" in status["prepare"] and "up to date" in status["ingest"]
    page = index.read_text()  # rewritten after the failed run
    assert "It failed at stage <b>validate</b>" in page and "href='validate/report.failed.html'" in page
    # fixed: the next run reruns the stage (and what follows), and the failed report goes
    fixed, built = project.root / "data/pipeline/ingest/data_version.json", (folder.parent / "ingest/report.ipynb").stat()
    fixed.write_text(json.dumps(record))
    os.utime(fixed, ns=(built.st_atime_ns, built.st_mtime_ns))  # put back as its build left it
    assert "validate" in project.run()
    assert not (folder / "report.failed.ipynb").exists() and not (folder / "report.failed.html").exists()
    assert all("up to date" in line for line in stage_status(project).values())
    assert "It failed at stage" not in index.read_text()


# 4. unwritable products: a clear line, nothing run, no MLflow run without its product; a handler that never raises

def test_a_product_folder_that_is_a_file_stops_the_run_before_anything_runs(project):
    runs, ingest_report = mlflow_runs(project), (project.root / "data/pipeline/ingest/report.ipynb").read_bytes()
    train = project.root / "data/pipeline/train"
    os.rename(train, project.root / "train.bak")
    train.write_text("in the way")
    err = project.fails("run", "--env", "env.test.yaml", "--force")
    assert "Stage 'train' cannot write its products in data/pipeline/train: train is a file, not a folder" in err
    assert "Nothing ran" in err and len(err.strip().splitlines()) == 1, err
    assert mlflow_runs(project) == runs
    assert (project.root / "data/pipeline/ingest/report.ipynb").read_bytes() == ingest_report


def test_the_failure_handler_never_raises_over_the_stage_error(project):
    folder = project.root / "data/pipeline/validate"
    good = (folder / "report.ipynb").read_bytes()
    (folder / "report.html").unlink()
    (folder / "report.html").mkdir()  # the report page cannot be written ...
    (folder / "report.failed.ipynb").mkdir()  # ... nor can the partial notebook be set aside
    (folder / "report.failed.ipynb/x").write_text("in the way")
    break_validate(project)
    err = project.fails("run", "--env", "env.test.yaml", "--stage", "validate", "--force")
    assert "Stage 'validate' failed" in err and "gone.parquet" in err, err
    assert "Its partial notebook could not be set aside in data/pipeline/validate" in err
    assert (folder / "report.ipynb").read_bytes() == good  # the good report came back all the same
    assert "outdated" in stage_status(project)["validate"]


# 5. temporary files of interrupted ingests

def test_temporary_files_of_dead_ingests_are_removed_and_none_are_left_on_error(tmp_path):
    from mlops_nb.config import DataError
    from mlops_nb.data import ingest
    pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}).to_csv(tmp_path / "in.csv", index=False)
    store = tmp_path / "versions"
    store.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    (store / f".ingest-{gone.pid}.parquet").write_bytes(b"killed mid-write")
    (store / f".ingest-{gone.pid}-0badcafe.parquet").write_bytes(b"killed mid-write")
    (store / f".ingest-{os.getpid()}.parquet").write_bytes(b"a live ingest of this process")
    ingest(tmp_path / "in.csv", store)
    assert sorted(p.name for p in store.glob(".ingest-*")) == [f".ingest-{os.getpid()}.parquet"]
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError):
        ingest(tmp_path / "bad.parquet", store)
    with pytest.raises(DataError):
        ingest(tmp_path / "in.csv", store, sample=10 ** 8)
    assert sorted(p.name for p in store.glob(".ingest-*")) == [f".ingest-{os.getpid()}.parquet"]


# 6. a sample larger than memory

def test_a_sample_too_large_for_memory_names_the_sample_and_the_fix(project):
    err = project.fails("run", "--env", "env.test.yaml", "--param", "sample=100000000")
    assert "Stage 'ingest' failed" in err and "sample=100000000 rows of" in err and "do not fit in memory" in err
    assert "sample=0 to keep every row" in err and "valid .csv" not in err, err


# 7. a feature missing in every row

def test_a_feature_missing_in_every_row_fails_validation_and_registers_nothing(project):
    raw = project.root / "data/raw/credit_data.csv"
    pd.read_csv(raw).assign(Income=None).to_csv(raw, index=False)
    versions, champion = model_versions(project), project.champion()
    err = project.fails("run", "--env", "env.test.yaml")
    assert "Stage 'validate' failed" in err and "Income: has values (it is missing in every row" in err, err
    assert model_versions(project) == versions and project.champion() == champion
    # allowed where the schema says so: the run gets past validation
    project.edit("schema.yaml", "Income: {type: int, nullable: true,", "Income: {type: int, nullable: true, all_missing: true,")
    done = project.cli("run", "--env", "env.test.yaml", check=False)
    assert "Stage 'validate' failed" not in done.stderr, done.stderr


# 8. stage add: values YAML keeps as they are

def stage_params(project: Project, *assignments) -> dict:
    "Make a stage of a notebook made of `assignments` (without its proving run): the parameters env.yaml then holds."
    import nbformat
    from mlops_nb.config import Project as P, load_params
    from mlops_nb.stage_from_notebook import add_stage
    path = project.root / "notebooks/explore.ipynb"
    path.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import pandas as pd\n" + "\n".join(assignments) + "\npd.DataFrame({'x': [1]}).to_csv('out.csv')")]), path)
    add_stage(P(project.root), path, "explore", prove=False)
    return load_params(project.root)


def test_stage_add_keeps_a_long_string_whole(fresh):
    title = "a title long enough that YAML's default width of 80 would fold it over two lines, " * 2
    assert len(title) > 100
    assert stage_params(fresh, f"title = {title!r}")["explore_title"] == title


def test_stage_add_writes_a_string_with_newlines_as_valid_yaml(fresh):
    note = "line one: with a colon\n# not a comment\nand a third"  # YAML would write it over several lines
    quoted = "  indented, 'quoted' and \"double\"\n"  # ... and this one double-quoted, on one line
    params = stage_params(fresh, f"note = {note!r}", f"quoted = {quoted!r}", "sizes = (1, 2)")
    assert [params[f"explore_{k}"] for k in ("note", "quoted", "sizes")] == [note, quoted, [1, 2]]
    assert fresh.cli("status", "--env", "env.test.yaml").returncode == 0  # env.yaml and pipeline.yaml still read


# 9. two runs in one process (a JupyterLab kernel) with a dead weakref.proxy alive in between

def test_two_runs_in_one_process_with_a_dead_weakref_proxy_in_between(project, monkeypatch):
    from mlops_nb import pipeline, shells
    from mlops_nb.config import Project as P
    monkeypatch.setenv("MLOPS_NB_ROOT", str(project.root))
    monkeypatch.chdir(project.root)
    first = pipeline.run(P(project.root), "env.test.yaml", stage="validate", force=True)

    class Thing:
        pass
    dead = weakref.proxy(Thing())  # what JupyterLab kernels hold: any look at it raises ReferenceError
    with pytest.raises(ReferenceError):
        isinstance(dead, int)
    second = pipeline.run(P(project.root), "env.test.yaml", stage="validate", force=True)
    assert first.set_index("stage").ran["validate"] and second.set_index("stage").ran["validate"]
    assert not shells._SHELLS  # the shells of both runs were released, none left recorded
    del dead
