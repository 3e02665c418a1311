"""The reference pipeline's stage functions called in one plain Python process: the peer of `mlops-nb run`.

Usage: python bench/plain_pipeline.py PROJECT_DIR [ENV_FILE]. Same library calls, same MLflow logging and registration,
same plots (saved as PNG), but no notebooks, no ploomber and no HTML reports.
"""
import sys
from pathlib import Path

from mlops_nb.config import Project, load_params
from mlops_nb.data import ingest
from mlops_nb.evaluate import classification_metrics, evaluation_plots, gate
from mlops_nb.features import DerivedFeatures, derived_plot, feature_columns, feature_summary
from mlops_nb.monitoring import drift_plot, drift_report
from mlops_nb.prepare import clean, split
from mlops_nb.registry import register
from mlops_nb.scoring import load_model, score, score_plot
from mlops_nb.train import code_version, fit, labels, log_run, tracking
from mlops_nb.validation import check_data, expected_schema, raise_on_failures


def main(root, env_file=None):
    p = Project(Path(root).resolve())
    a = load_params(p.root, env_file)
    out = p.data / "plain"
    out.mkdir(parents=True, exist_ok=True)
    version = ingest(p.path(a["data_path"]), p.versions, a["sample"], a["seed"])
    schema = expected_schema(a["target"], a["labels"], a["numeric_features"], a["categorical_features"])
    df, failures = check_data(version.load(), schema, a["target"])
    raise_on_failures(failures)
    train, test = split(clean(df, a["target"]), a["target"], a["test_size"], a["seed"])
    DerivedFeatures(a["derived_features"]).check(train)
    feature_summary(train, a["numeric_features"], a["categorical_features"], a["derived_features"])
    derived_plot(train, a["derived_features"]).savefig(out / "derived.png")
    hyper = {k: a[k] for k in ("n_estimators", "max_depth", "min_samples_leaf", "class_weight")}
    model = fit(train, a["target"], a["positive_class"], a["numeric_features"], a["categorical_features"],
                a["derived_features"], a["model_type"], a["seed"], **hyper)
    lineage = {"data_version": version.id, **code_version(p.root)}
    cols = feature_columns(a["numeric_features"], a["categorical_features"])
    run = log_run(p, a["experiment"], model, train[cols], {**hyper, "seed": a["seed"]}, lineage)
    logged = tracking(p).sklearn.load_model(run["model_uri"])
    y_true, proba = labels(test, a["target"], a["positive_class"]), logged.predict_proba(test[cols])[:, 1]
    metrics = classification_metrics(y_true, proba)
    evaluation_plots(y_true, proba).savefig(out / "evaluation.png")
    for k, v in metrics.items():
        tracking(p).MlflowClient().log_metric(run["run_id"], k, v)
    register(p, a["model_name"], run, gate(metrics, {"roc_auc": a["min_roc_auc"]}), lineage)
    champion, v = load_model(p, a["model_name"])
    batch = test.drop(columns=[a["target"]])
    scores = score(champion, batch, a["model_name"], v, a["positive_class"])
    score_plot(scores).savefig(out / "scores.png")
    report = drift_report(train, batch, a["numeric_features"], a["categorical_features"], a["drift_psi_threshold"])
    drift_plot(report, a["drift_psi_threshold"]).savefig(out / "drift.png")
    print(f"plain: roc_auc {metrics['roc_auc']:.4f}, champion v{v}, {int(report.drifted.sum())} drifted")


if __name__ == "__main__":
    main(*sys.argv[1:])
