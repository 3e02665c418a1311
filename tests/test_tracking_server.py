"""The same pipeline and registry commands against a real MLflow tracking server on loopback; and one that is down."""
from conftest import STAGES, Project, copy_project, free_port


def test_pipeline_and_governance_against_a_tracking_server(tracking_server, tmp_path):
    project = Project(copy_project(tmp_path / "project"))
    env = {"MLFLOW_TRACKING_URI": tracking_server}
    assert project.run(env=env) == set(STAGES)
    assert not (project.root / "data/mlflow.db").exists()  # everything went to the server
    listed = project.cli("models", env=env).stdout
    assert "credit-risk" in listed and "challenger,champion" in listed
    project.run("--param", "min_roc_auc=0.99", "--param", "seed=5", env=env)  # v2 fails its gates
    project.cli("promote", "credit-risk", "2", "--by", "ci", "--reason", "test", "--override", env=env)
    project.cli("rollback", "credit-risk", "--by", "ci", "--reason", "undo", env=env)
    history = project.cli("models", "history", "credit-risk", env=env).stdout
    assert "OVERRIDE of failed gates: test" in history and "rollback: undo" in history
    assert "reports/v1/train/report.html" in project.cli("models", "show", "credit-risk", "1", env=env).stdout
    assert "predictions are identical" in project.cli("reproduce", "credit-risk", "1", env=env).stdout


def test_a_tracking_server_that_is_down(built):
    env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    done = built.cli("models", env=env, check=False)
    assert done.returncode == 2 and "cannot be reached" in done.stderr and "Traceback" not in done.stderr
