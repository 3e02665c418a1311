"""Bad input gets one clear message, exit status 2, and nothing that looks finished."""


def fails(project, *args):
    return project.fails("run", "--env", "env.test.yaml", *args)


def test_missing_data_file(project):
    err = fails(project, "--param", "data_path=data/raw/nope.csv")
    assert "Data file not found" in err and "data_path" in err
    assert "Stage 'ingest' failed" in err and "data/pipeline/ingest/report.failed.ipynb" in err
    status = project.cli("status", "--env", "env.test.yaml", "--param", "data_path=data/raw/nope.csv").stdout
    assert "ingest outdated" in " ".join(status.split())  # not left looking finished


def test_unreadable_data_file(project):
    (project.root / "data/raw/broken.parquet").write_bytes(b"this is not parquet")
    assert "Cannot read" in fails(project, "--param", "data_path=data/raw/broken.parquet")


def test_unknown_parameter(project):
    err = fails(project, "--param", "n_estimator=5")
    assert "Unknown parameter 'n_estimator'" in err and "Did you mean 'n_estimators'" in err


def test_parameter_of_the_wrong_type(project):
    assert "must be of type int" in fails(project, "--param", "n_estimators=many")


def test_malformed_parameter(project):
    assert "name=value" in fails(project, "--param", "n_estimators")


def test_missing_env_file(project):
    assert "does not exist" in project.cli("run", "--env", "env.nope.yaml", check=False).stderr


def test_missing_label_column(project):
    err = fails(project, "--param", "target=Verdict")
    assert "Stage 'validate' failed in code cell" in err
    assert "label column 'Verdict' is missing" in err and "--param target=COLUMN" in err


def test_invalid_rows_stop_the_run_before_training(project):
    raw = project.root / "data/raw/credit_data.csv"
    raw.write_text(raw.read_text().replace("\ngood,", "\nmaybe,", 3))
    err = fails(project, "--param", "sample=0")
    assert "Stage 'validate' failed" in err and "Status: a value outside `allowed` (schema drift)" in err
    report = (project.root / "data/pipeline/validate/report.failed.html").read_text()
    assert "maybe" in report and "failure_case" not in err  # the failing values are in the failed run's HTML report


def test_outside_a_project(tmp_path):
    import subprocess
    from conftest import CLI
    done = subprocess.run([str(CLI), "status"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and "No pipeline.yaml" in done.stderr
