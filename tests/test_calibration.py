"""Calibration, selection metric and the new gates (issue 11): bad values are refused when the parameters are read,
before any stage runs. The behaviour itself is tested in nbs/05_train.ipynb and nbs/06_evaluate.ipynb (generated data
with 3% positives) and, in the pipeline, by test_evaluate.py."""
import pytest

from conftest import Project, copy_project
from mlops_nb.config import ConfigError, load_params


def test_an_unknown_calibration_is_refused_with_exit_2_naming_the_choices(tmp_path):
    project = Project(copy_project(tmp_path / "p"))
    err = project.fails("run", "--env", "env.test.yaml", "--param", "calibration=platt")
    assert "Parameter 'calibration' in --param: got 'platt', but it must be one of sigmoid, isotonic, none" in err
    assert not (project.root / "data/pipeline").exists()  # refused before anything ran


@pytest.mark.parametrize("item, message", [
    ("selection_metric=auc", "one of roc_auc, average_precision, log_loss, brier"),
    ("max_calibration_error=1.5", "a number >= 0 and <= 1"),
    ("min_baseline_margin=-2.0", "a number >= -1 and <= 1")])
def test_bad_selection_metric_and_gate_values_are_refused(item, message):
    from conftest import REPO
    with pytest.raises(ConfigError, match=message):
        load_params(REPO, overrides=[item])


def test_the_defaults_calibrate_and_gate():
    from conftest import REPO
    p = load_params(REPO)
    assert (p["calibration"], p["selection_metric"]) == ("sigmoid", "roc_auc")
    assert p["max_calibration_error"] == 0.1 and p["min_baseline_margin"] < 0
