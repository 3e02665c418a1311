"""Governance through the CLI: gates guard champion, approvals, overrides and rollbacks, all in the audit log."""


def test_a_failed_gate_keeps_champion_until_an_override(project):
    before = project.champion()
    project.run("--param", "min_roc_auc=0.99", "--param", "seed=7")  # a new version that fails its gates
    failed = before + 1
    assert project.champion() == before
    shown = project.cli("models", "show", "credit-risk", str(failed)).stdout
    assert "gates          FAILED" in shown and "(FAIL)" in shown and f"reports/v{failed}/train/report.html" in shown
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


def test_versions_of_one_training_run_keep_their_own_reports(project):
    "Two evaluate-only reruns register v2 and v3 on v1's training run; each version's evaluate report is its own."
    for rule in ("youden", "fixed"):
        ran = project.run("--param", f"threshold_rule={rule}")
        assert "train" not in ran and {"evaluate", "register"} <= ran, ran
    registry = project.registry()
    versions = {int(v.version): v for v in registry.search_model_versions("name='credit-risk'")}
    assert sorted(versions) == [1, 2, 3] and len({v.run_id for v in versions.values()}) == 1
    import json
    for version, rule in [(1, "max_f1"), (2, "youden"), (3, "fixed")]:
        local = registry.download_artifacts(versions[version].run_id, f"reports/v{version}/evaluate/report.ipynb",
                                            str(project.root / f"read-back-v{version}"))
        cells = json.loads(open(local).read())["cells"]
        injected = next("".join(c["source"]) for c in cells if "injected-parameters" in c["metadata"].get("tags", []))
        assert f'threshold_rule = "{rule}"' in injected, (version, injected[:500])
