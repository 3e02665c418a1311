"""Governance through the CLI: gates guard champion, approvals, overrides and rollbacks, all in the audit log."""


def test_a_failed_gate_keeps_champion_until_an_override(project):
    before = project.champion()
    project.run("--param", "min_roc_auc=0.99", "--param", "seed=7")  # a new version that fails its gates
    failed = before + 1
    assert project.champion() == before
    shown = project.cli("models", "show", "credit-risk", str(failed)).stdout
    assert "gates          FAILED" in shown and "(FAIL)" in shown and "reports/train/report.html" in shown
    assert "failed its gates" in project.fails("promote", "credit-risk", str(failed), "--by", "ana", "--reason", "x")
    assert project.champion() == before  # no change to the registry
    project.cli("promote", "credit-risk", str(failed), "--by", "ana", "--reason", "hotfix", "--override")
    assert project.champion() == failed
    project.cli("rollback", "credit-risk", "--by", "ana", "--reason", "undo")
    assert project.champion() == before
    history = project.cli("models", "history", "credit-risk").stdout
    assert "OVERRIDE of failed gates: hotfix" in history and "rollback: undo" in history


def test_approval_is_required_when_configured(project):
    before = project.champion()
    project.run("--param", "require_approval=true", "--param", "seed=8", "--param", "champion_margin=1.0",
                "--param", "model_tests_path=")  # about approvals: this small seed-8 model fails the model tests
    waiting = before + 1
    assert project.champion() == before
    assert "needs an approval" in project.fails("promote", "credit-risk", str(waiting), "--by", "a", "--reason", "b")
    assert "no version 99" in project.fails("approve", "credit-risk", "99", "--by", "bo", "--note", "ok")
    assert "now champion" in project.cli("approve", "credit-risk", str(waiting), "--by", "bo", "--note", "ok").stdout
    assert project.champion() == waiting
    assert "approved_by    bo" in project.cli("models", "show", "credit-risk", str(waiting)).stdout


def test_rollback_without_a_previous_champion(project):
    assert "no previous champion" in project.fails("rollback", "credit-risk", "--by", "a", "--reason", "b")


def test_unknown_model(project):
    assert "No registered model named 'nope'" in project.fails("models", "show", "nope", "1")
