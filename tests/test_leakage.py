"""Leakage and degenerate features (mlops_nb.leakage, run by the features stage): each planted leak is flagged with the
right check, clean data (the reference credit data too) flags nothing, and a pipeline run warns, or stops with
`leakage: fail`, naming the feature and the fix."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, Project, copy_project
from mlops_nb.config import ConfigError, DataError, check_params
from mlops_nb.features import DerivedFeatures
from mlops_nb.leakage import act_on_leaks, leakage_checks, leaky_example

CLEAN = ["age", "income", "debt"]
PLANTED = {("echo", "predicts the label alone"), ("spend", "predicts the label alone"),
           ("spend", "constant within a label"), ("income_k", "duplicate"), ("row_id", "id-like"),
           ("bureau", "missing for one label")}


@pytest.mark.parametrize("rows,seed", [(1000, 0), (1300, 1), (5000, 2), (50_000, 3)])
def test_each_planted_leak_is_flagged_with_its_check(rows, seed):
    df, y = leaky_example(rows, seed)
    order = np.random.default_rng(seed).permutation(rows)  # a shuffled split: the id is no longer in row order
    df, y = df.iloc[order].reset_index(drop=True), y.iloc[order].reset_index(drop=True)
    found = leakage_checks(df, y, "bad", CLEAN + ["echo", "spend", "income_k", "row_id", "bureau"], ["home"],
                           seed=seed)
    assert set(zip(found.feature, found.check)) == PLANTED, found


def test_more_kinds_of_repeats_and_counters():
    df, y = leaky_example(3000, 4)
    df = df.assign(home_code=df.home.map({"rent": 1, "own": 2, "parents": 3}), age_again=df.age,
                   counter=np.arange(3000) * 0.5 + np.random.default_rng(4).normal(0, 0.01, 3000),
                   application=[f"A{i:05d}" for i in range(3000)], flat=7.0)
    found = leakage_checks(df, y, "bad", CLEAN + ["age_again", "counter", "flat"], ["home", "home_code", "application"])
    assert set(zip(found.feature, found.check)) == {
        ("home_code", "duplicate"), ("age_again", "duplicate"), ("counter", "id-like"), ("application", "id-like"),
        ("flat", "constant")}, found
    assert "drop home_code from categorical_features" in found.set_index("feature").loc["home_code", "what to do"]


@pytest.mark.parametrize("seed", range(6))
def test_clean_data_flags_nothing(seed):
    "Twenty honest features (numbers of several shapes, a rare flag, categories, gaps at random, a strong one)."
    rng = np.random.default_rng(seed)
    n = [400, 1300, 20_000][seed % 3]
    cols = {f"n{i}": rng.lognormal(3, 1, n) if i % 2 else rng.normal(size=n) for i in range(12)}
    cols["whole"] = rng.integers(0, 100, n).astype(float)
    cols["rare_flag"] = (rng.random(n) < 0.005).astype(int)
    cols["gappy"] = np.where(rng.random(n) < 0.05, np.nan, rng.normal(size=n))
    for i in range(5):
        cols[f"c{i}"] = rng.choice([f"k{j}" for j in range(2 + 3 * i)], n)
    df = pd.DataFrame(cols)
    risk = df.n0 * 1.5 + (df.c1 == "k0") + rng.normal(0, 1, n)  # n0: strong (AUC ~0.85), honest
    y = pd.Series(np.where(risk > 1, "bad", "good"))
    numeric = [c for c in df if not c.startswith("c")]
    found = leakage_checks(df, y, "bad", numeric, [f"c{i}" for i in range(5)], seed=seed)
    assert found.empty, found


def test_the_reference_credit_data_flags_nothing():
    env = yaml.safe_load((REPO / "env.yaml").read_text())
    df = pd.read_csv(REPO / "data/raw/credit_data.csv").replace(99999999, np.nan)  # as prepare cleans it
    df = DerivedFeatures(env["derived_features"]).transform(df)
    found = leakage_checks(df, df[env["target"]], env["positive_class"], env["numeric_features"],
                           env["categorical_features"], list(env["derived_features"]))
    assert found.empty, found


def test_fail_names_the_feature_and_the_fix_and_bad_settings_are_refused():
    df, y = leaky_example(2000)
    found = leakage_checks(df, y, "bad", CLEAN + ["spend"], ["home"])
    with pytest.raises(DataError) as e:
        act_on_leaks(found, "fail")
    assert "spend: predicts the label alone" in str(e.value) and "drop it from numeric_features" in str(e.value)
    assert "set leakage: warn" in str(e.value)
    with pytest.warns(UserWarning, match="possible leakage: spend"):
        act_on_leaks(found, "warn")
    for name, value in [("leakage", "loud"), ("leakage_max_auc", 1.5), ("leakage_max_correlation", 0)]:
        with pytest.raises(ConfigError, match=f"Parameter '{name}'"):
            check_params({name: value}, REPO)


def card_applications(n=1300, seed=11) -> pd.DataFrame:
    "Like the public credit-card application data: spending on the card, and as a share of income, only once granted."
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"reports": rng.poisson(0.5, n), "age": rng.integers(18, 80, n),
                       "income": rng.lognormal(1.1, 0.4, n).round(2), "dependents": rng.integers(0, 5, n),
                       "months": rng.integers(0, 500, n), "owner": rng.choice(["yes", "no"], n),
                       "selfemp": rng.choice(["yes", "no"], n, p=[0.1, 0.9])})
    granted = 1.8 - 0.9 * df.reports + 0.3 * df.income + rng.normal(0, 1, n) > 0.5
    df["expenditure"] = np.where(granted, rng.gamma(1.5, 120, n).round(2), 0.0)
    df["share"] = (df.expenditure / (df.income * 10_000 / 12)).round(6)
    df["card"] = np.where(granted, "yes", "no")
    return df


@pytest.fixture(scope="module")
def card_project(tmp_path_factory) -> Project:
    "A project on the card applications, two post-decision columns among the features."
    project = Project(copy_project(tmp_path_factory.mktemp("card")))
    card_applications().to_csv(project.root / "data/raw/card.csv", index=False)
    env = {"data_path": "data/raw/card.csv", "sample": 0, "schema_path": "", "target": "card",
           "labels": ["yes", "no"], "positive_class": "no",
           "numeric_features": ["reports", "age", "income", "dependents", "months", "expenditure", "share"],
           "categorical_features": ["owner", "selfemp"], "derived_features": {}, "feature_view": "card_features",
           "sensitive_features": {}, "experiment": "card", "model_name": "card", "model_tests_path": "",
           "tuning_trials": 0, "n_estimators": 20, "min_roc_auc": 0.6, "max_dp_difference": 1.0,
           "max_eo_difference": 1.0}
    (project.root / "env.card.yaml").write_text(yaml.safe_dump(env))
    return project


def test_a_run_on_leaky_data_warns_in_its_output_and_report(card_project):
    done = card_project.cli("run", "--env", "env.card.yaml")
    assert "10 of 10 stage(s) ran" in done.stdout
    for feature in ("expenditure", "share"):
        assert f"possible leakage: {feature}: predicts the label alone" in done.stderr, done.stderr[-3000:]
        assert f"possible leakage: {feature}: constant within a label" in done.stderr
    assert "possible leakage: income" not in done.stderr and "possible leakage: reports" not in done.stderr
    report = (card_project.root / "data/pipeline/features/report.ipynb").read_text()
    assert "leakage checks on" in report and "constant within a label" in report and "what to do" in report


def test_leakage_fail_stops_the_run_naming_the_feature_and_the_fix(card_project):
    err = card_project.fails("run", "--env", "env.card.yaml", "--param", "leakage=fail")
    assert "Stage 'features' failed" in err and "leakage: fail" in err
    assert "expenditure: predicts the label alone" in err and "drop it from numeric_features" in err
    assert "set leakage: warn" in err
    done = card_project.cli("run", "--env", "env.card.yaml", "--param", "leakage=off")
    assert "possible leakage" not in done.stderr


def test_the_reference_test_run_is_silent(built):
    nb = json.loads((built.root / "data/pipeline/features/report.ipynb").read_text())
    text = json.dumps(nb)
    assert "nothing found" in text and "possible leakage" not in text
