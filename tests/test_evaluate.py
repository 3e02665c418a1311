"""Evaluation: the stated threshold rule, calibration, behavioural model tests as gates, mitigation side by side."""
import pandas as pd


def evaluation(project) -> dict:
    from mlops_nb.records import Evaluation
    return vars(Evaluation.read(project.products("evaluate")["evaluation"]))


def test_the_report_states_its_threshold_and_runs_every_model_test(built):
    e = evaluation(built)
    assert e["threshold"]["rule"] == "max_f1" and "maximises F1 on the validation split" in e["threshold"]["statement"]
    assert {"brier_score", "calibration_error", "average_precision", "log_loss"} <= set(e["metrics"])
    assert e["selection_metric"] == "roc_auc" and e["calibration"]["method"] == "sigmoid"  # calibrated by default
    assert e["calibration"]["after"]["brier_score"] < e["calibration"]["before"]["brier_score"]  # 0.161 < 0.180
    assert set(e["baselines"]) == {"prior", "lr"} and e["baselines"]["prior"]["roc_auc"] == 0.5
    assert any(r.startswith("calibration_error ") for r in e["verdict"]["reasons"])
    assert any("baseline lr" in r for r in e["verdict"]["reasons"])
    c = built.registry()
    logged = c.get_run(c.get_model_version("credit-risk", "1").run_id).data.metrics  # the version carries them
    assert {"baseline_lr_roc_auc", "baseline_prior_brier_score", "uncalibrated_brier_score"} <= set(logged)
    assert len(e["model_tests"]) == 7 and all(t["passed"] for t in e["model_tests"])
    assert sum("model test" in r for r in e["verdict"]["reasons"]) == 7
    report = (built.root / "data/pipeline/evaluate/report.html").read_text()
    assert "ThresholdOptimizer (equalized_odds)" in report and "single threshold" in report
    assert "calibrated (sigmoid)" in report and "baseline lr" in report  # before/after and side by side
    shown = built.cli("models", "show", "credit-risk", "1").stdout
    assert "decision_rule  threshold" in shown
    scores = pd.read_parquet(built.root / "data/pipeline/score/scores.parquet")  # batch labels use that threshold
    assert ((scores.score >= e["threshold"]["threshold"]) == (scores.prediction == "bad")).all()  # in label values


def test_a_failing_model_test_fails_the_gate_with_examples(project):
    before = project.champion()
    project.edit("model_tests.yaml", "    expect: bad\n", "    expect: good\n")  # the risky applicant, called good
    project.run()  # only the model tests changed: evaluate reruns (and what follows)
    e = evaluation(project)
    failed = [t for t in e["model_tests"] if not t["passed"]]
    assert [t["name"] for t in failed] == ["a young renter with arrears, little income and a loan near the price is bad"]
    assert failed[0]["examples"][0]["expected"] == "good" and failed[0]["examples"][0]["got"] == "bad"
    assert not e["verdict"]["passed"] and project.champion() == before
    assert "model test 'a young renter" in project.cli("models", "show", "credit-risk", str(before + 1)).stdout


def test_a_broken_model_tests_file_names_the_entry(project):
    project.edit("model_tests.yaml", "    expect: not_lower\n", "    expect: higher\n")
    done = project.cli("run", "--env", "env.test.yaml", check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "directional[0] (more debt does not lower the risk): `expect` must be not_lower or not_higher" in done.stderr


def test_an_unknown_threshold_rule_is_refused(project):
    done = project.cli("run", "--env", "env.test.yaml", "--param", "threshold_rule=best", check=False)
    assert done.returncode == 2 and "choose one of max_f1, youden, cost, fixed" in done.stderr, done.stderr
