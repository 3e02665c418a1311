"""`mlops-nb reproduce`: a registered version retrained from its records gives identical metrics and predictions."""


def test_a_version_reproduces_exactly(project):
    done = project.cli("reproduce", "credit-risk", "1")
    assert "reproduced: metrics and test-set predictions are identical" in done.stdout, done.stdout
    assert "max |difference| 0.0" in done.stdout
    registry = project.registry()
    assert len(registry.search_model_versions("name='credit-risk'")) == 1  # the rerun used a throwaway store


def test_changed_training_code_is_caught(project):
    project.edit("nbs/pipeline/50_train.ipynb", 'train = point_in_time(split[[view.entity, view.event_time, target]], view)',
                 'train = point_in_time(split[[view.entity, view.event_time, target]], view).iloc[1:]')
    done = project.cli("reproduce", "credit-risk", "1", check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT reproduced" in done.stdout and "False" in done.stdout


def test_unknown_version(project):
    done = project.cli("reproduce", "credit-risk", "99", check=False)
    assert done.returncode == 2 and "no version 99" in done.stderr, done.stderr


def test_a_candidate_that_failed_its_gates_reproduces(project):
    "The version an auditor asks about: registered, never champion (the rerun stops at evaluate, needing none)."
    project.run("--param", "min_roc_auc=0.999")  # evaluate and register again: v2 fails its ROC AUC gate
    registry = project.registry()
    assert project.champion() == 1 and len(registry.search_model_versions("name='credit-risk'")) == 2
    done = project.cli("reproduce", "credit-risk", "2")
    assert "reproduced: metrics and test-set predictions are identical" in done.stdout, done.stdout + done.stderr
