"""The reference pipeline's stage functions called in one plain Python process: the peer of `mlops-nb run`.

Usage: python bench/plain_pipeline.py PROJECT_DIR [ENV_FILE]. Same library calls (tuning, MLflow logging and
registration, plots saved as PNG), but no notebooks, no ploomber and no HTML reports.
"""
import sys
from pathlib import Path

import pandas as pd

from mlops_nb.bias import group_report, rates_plot, reweighing, sensitive_groups
from mlops_nb.config import Project, load_params
from mlops_nb.data import ingest
from mlops_nb.evaluate import classification_metrics, evaluation_plots, fairness_report, gate
from mlops_nb.feature_store import materialize, point_in_time, with_keys
from mlops_nb.features import derived_plot, feature_columns, feature_summary
from mlops_nb.drift import drift_plot, drift_report, profile
from mlops_nb.prepare import clean, split
from mlops_nb.registry import card_html, describe, model_card, register
from mlops_nb.scoring import load_model, score, score_plot
from mlops_nb.tracking import tracking
from mlops_nb.train import code_version, encode_target, fit, log_run, search_plot, tune
from mlops_nb.validation import check_data, raise_on_failures, read_schema


def main(root, env_file=None):
    p = Project(Path(root).resolve())
    a = load_params(p.root, env_file)
    out = p.data / "plain"
    out.mkdir(parents=True, exist_ok=True)
    target, positive = a["target"], a["positive_class"]
    version = ingest(p.path(a["data_path"]), p.versions, a["data_query"], a["sample"], a["data_seed"])
    spec_file = read_schema(p.path(a["schema_path"]))
    df, failures = check_data(version.load(), spec_file, target)
    raise_on_failures(failures)
    keyed, entity, ts, _ = with_keys(df, a["entity_key"], a["event_time"])
    train, validation, test = split(clean(keyed, target, a["missing_codes"], [entity, ts]), target, a["test_size"],
                                    a["data_seed"], a["validation_size"])
    groups = sensitive_groups(train, a["sensitive_features"])
    y = encode_target(train, target, positive)
    weights = reweighing(y, groups) if a["mitigation"] == "reweighing" else pd.Series(1.0, index=train.index)
    before = group_report(y, groups, a["bias_min_group_share"], a["bias_max_rate_ratio"])
    rates_plot(before, group_report(y, groups, weights=weights)).savefig(out / "bias.png")
    cols = feature_columns(a["numeric_features"], a["categorical_features"])
    view = materialize(pd.concat([train, validation, test]), p.data / "features", a["feature_view"],
                       a["numeric_features"] + a["categorical_features"], a["derived_features"], version.id, entity, ts)
    feature_summary(train, a["numeric_features"], a["categorical_features"], a["derived_features"])
    derived_plot(train, a["derived_features"]).savefig(out / "derived.png")
    spec = {"numeric": a["numeric_features"], "categorical": a["categorical_features"], "derived": a["derived_features"]}
    train_set = point_in_time(train[[entity, ts, target]], view).merge(
        pd.DataFrame({entity: train[entity], "weight": weights.to_numpy()}), on=entity)
    fixed = {"class_weight": None if a["class_weight"] in ("", "none") else a["class_weight"]}
    trials = tune(train_set, target, positive, spec, a["candidates"], a["tuning_trials"], a["tuning_seconds"],
                  a["cv_folds"], a["seed"], a["n_jobs"], a["dask_address"], a["resample"], train_set.weight, fixed,
                  progress=False)
    search_plot(trials).savefig(out / "search.png")
    hyper = {**fixed, **trials.params[0]}
    model = fit(train_set, target, positive, spec["numeric"], spec["categorical"], spec["derived"],
                trials.model_type[0], a["seed"], a["resample"], train_set.weight, **hyper)
    lineage = {"data_version": version.id, "feature_view": f"{view.name}@{view.version}", **code_version(p.root)}
    run = log_run(p, a["experiment"], model, train_set[cols], {**hyper, "model_type": trials.model_type[0]},
                  lineage, {"cv_roc_auc": float(trials.cv_roc_auc[0])}, trials=trials)
    logged = tracking(p).sklearn.load_model(run["model_uri"])
    y_true, proba = encode_target(test, target, positive), logged.predict_proba(test[cols])[:, 1]
    metrics = classification_metrics(y_true, proba)
    classification_metrics(encode_target(validation, target, positive), logged.predict_proba(validation[cols])[:, 1])
    evaluation_plots(y_true, proba).savefig(out / "evaluation.png")
    _, fairness = fairness_report(y_true, proba >= 0.5, sensitive_groups(test, a["sensitive_features"]),
                                  a["bias_min_group_share"])
    verdict = gate({**metrics, **fairness}, {"roc_auc": a["min_roc_auc"]},
                   {"demographic_parity_difference": a["max_dp_difference"],
                    "equalized_odds_difference": a["max_eo_difference"]})
    for k, v in {**metrics, **fairness}.items():
        tracking(p).MlflowClient().log_metric(run["run_id"], k, v)
    registered = register(p, a["model_name"], run, verdict, lineage, require_approval=a["require_approval"])
    (out / "card.html").write_text(card_html(model_card(describe(p, a["model_name"], registered["version"]))))
    champion, v = load_model(p, a["model_name"])
    batch = test.drop(columns=[target])
    scores = score(champion, batch, a["model_name"], v, positive)
    score_plot(scores).savefig(out / "scores.png")
    reference = profile(train, a["numeric_features"], a["categorical_features"])
    report = drift_report(reference, batch, a["drift_threshold"], a["drift_p_value"])
    drift_plot(report, a["drift_threshold"], a["drift_p_value"]).savefig(out / "drift.png")
    print(f"plain: roc_auc {metrics['roc_auc']:.4f}, champion v{v}, {int(report.drifted.sum())} drifted")


if __name__ == "__main__":
    main(*sys.argv[1:])
