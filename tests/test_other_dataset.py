"""The pipeline runs on another classification data set, with other columns, by configuration alone."""
import numpy as np
import pandas as pd
import yaml

from mlops_nb.records import Evaluation, Split



def churn_data(n=800, seed=3) -> pd.DataFrame:
    "A small churn data set: an id and a time per customer, other features, another label."
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "customer_id": np.arange(1000, 1000 + n),
        "signup_time": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, n), "h"),
        "tenure_months": rng.integers(1, 72, n),
        "monthly_charges": rng.normal(70, 20, n).round(2),
        "plan": rng.choice(["basic", "plus", "premium"], n),
        "region": rng.choice(["north", "south", "east", "west"], n),
    })
    risk = 1.5 - df.tenure_months / 24 + (df.plan == "basic") + rng.normal(0, 0.7, n)
    df["churned"] = np.where(risk > 0.8, "yes", "no")
    return df


def test_another_data_set_by_configuration_only(project):
    churn_data().to_csv(project.root / "data/raw/churn.csv", index=False)
    env = {"data_path": "data/raw/churn.csv", "sample": 0, "schema_path": "", "target": "churned",
           "labels": ["no", "yes"], "positive_class": "yes",
           "numeric_features": ["tenure_months", "monthly_charges"], "categorical_features": ["plan", "region"],
           "derived_features": {"charge_per_tenure_month": "monthly_charges / tenure_months"},
           "entity_key": "customer_id", "event_time": "signup_time", "feature_view": "churn_features",
           "sensitive_features": {"region": {"column": "region"}}, "experiment": "churn", "model_name": "churn",
           "n_estimators": 30, "min_roc_auc": 0.7, "model_tests_path": "model_tests.churn.yaml"}
    (project.root / "env.churn.yaml").write_text(yaml.safe_dump(env))
    (project.root / "model_tests.churn.yaml").write_text(yaml.safe_dump({  # this data set's own behavioural tests
        "invariance": [{"name": "region does not decide churn", "column": "region",
                        "values": ["north", "south", "east", "west"], "tolerance": 0.25, "max_failure_rate": 0.1}],
        "directional": [{"name": "a longer tenure does not raise churn", "column": "tenure_months", "add": 12,
                         "expect": "not_higher", "tolerance": 0.1, "max_failure_rate": 0.1}],
        "minimum_functionality": [{"name": "a new basic customer churns", "expect": "yes", "row": {
            "tenure_months": 1, "monthly_charges": 70.0, "plan": "basic", "region": "north"}}]}))
    done = project.cli("run", "--env", "env.churn.yaml")
    assert "10 of 10 stage(s) ran" in done.stdout
    evaluation = Evaluation.read(project.products("evaluate")["evaluation"])
    assert [t["name"] for t in evaluation.model_tests if t["passed"]] == [
        "region does not decide churn", "a longer tenure does not raise churn", "a new basic customer churns"]
    listed = project.cli("models", "list", "churn").stdout
    assert "churn " in listed and "champion" in listed
    shown = project.cli("features", "show", "churn_features").stdout
    assert "entity `customer_id`, event time `signup_time`" in shown and "(derived" not in shown
    assert "monthly_charges / tenure_months" in shown
    groups = pd.read_csv(project.root / "data/pipeline/bias/groups.csv")
    assert set(groups.group) == {"north", "south", "east", "west"}
    scores = pd.read_parquet(project.root / "data/pipeline/score/scores.parquet")
    assert set(scores.positive_class) == {"yes"} and "churned" not in scores
    split = Split.read(project.products("prepare")["split"])
    assert split.entity == "customer_id" and not split.keys_derived
