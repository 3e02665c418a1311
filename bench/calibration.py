"""Benchmark: calibrated probabilities on imbalanced data, beside the uncalibrated model and a plain logistic regression.

    .venv/bin/python bench/calibration.py [--rows 10000] [--rate 0.03] [--tiny]

Generates an imbalanced data set (mlops_nb.train.rare_positives: about 3% positives, two numeric features and a binary
one), splits it into training, validation and test rows (env.yaml's shares, stratified), and trains the champion as
the pipeline does with env.yaml's defaults: tune (class_weight, candidates, trials, folds, selection_metric), refit
the best on the training rows, calibrate it on the validation rows (env.yaml's `calibration`). On the same test rows
it prints ROC AUC, PR AUC (average precision), Brier score and calibration error of: the calibrated champion, the same
model uncalibrated, and the baselines (a plain, unweighted logistic regression and the prior); then whether the aim
holds: the champion's Brier score within 5% of the plain logistic regression's or better, at no worse ROC AUC.
`--tiny` is the CI size (2,000 rows, 3 trials, 2 folds): seconds, and noisier numbers.
"""
import argparse
import time
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from mlops_nb.config import load_params
from mlops_nb.evaluate import baselines, probability_metrics
from mlops_nb.train import calibrate, encode_target, fit, rare_positives, tune

REPO = Path(__file__).resolve().parents[1]
NUMERIC, CATEGORICAL, COLUMNS = ["x1", "x2"], ["flag"], ["x1", "x2", "flag"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="CI size: 2,000 rows, 3 trials, 2 folds")
    args = ap.parse_args()
    a = load_params(REPO)
    rows, trials, folds = (2000, 3, 2) if args.tiny else (args.rows, a["tuning_trials"], a["cv_folds"])
    df = rare_positives(rows, args.rate, args.seed)
    y = encode_target(df, "y", "bad")
    rest, test = train_test_split(df, test_size=a["test_size"], stratify=y, random_state=a["seed"])
    train, validation = train_test_split(rest, test_size=a["validation_size"] / (1 - a["test_size"]),
                                         stratify=encode_target(rest, "y", "bad"), random_state=a["seed"])
    spec = {"numeric": NUMERIC, "categorical": CATEGORICAL, "derived": {}}
    fixed = {"class_weight": None if a["class_weight"] in ("", "none") else a["class_weight"]}
    start = time.perf_counter()
    results = tune(train, "y", "bad", spec, a["candidates"], trials, a["tuning_seconds"], folds, a["seed"], a["n_jobs"],
                   "", "none", None, fixed, progress=False, metric=a["selection_metric"])
    model_type, params = results.model_type[0], {**fixed, **results.params[0]}
    trained = fit(train, "y", "bad", NUMERIC, CATEGORICAL, None, model_type, a["seed"], **params)
    method = a["calibration"] if a["calibration"] != "none" else "sigmoid"
    champion = calibrate(trained, validation[COLUMNS], encode_target(validation, "y", "bad"), method)
    seconds = time.perf_counter() - start
    yt = encode_target(test, "y", "bad")
    table = {f"champion, calibrated ({method})": probability_metrics(yt, champion.predict_proba(test[COLUMNS])[:, 1]),
             "champion, uncalibrated": probability_metrics(yt, trained.predict_proba(test[COLUMNS])[:, 1]),
             **{f"baseline {k}": v for k, v in baselines((train[COLUMNS], encode_target(train, "y", "bad")),
                                                         (test[COLUMNS], yt), NUMERIC, CATEGORICAL,
                                                         seed=a["seed"]).items()}}
    shown = pd.DataFrame(table).T[["roc_auc", "average_precision", "brier_score", "calibration_error"]]
    shown.columns = ["ROC AUC", "PR AUC", "Brier", "calib. error"]
    print(f"\n{rows:,} generated rows, {y.mean():.1%} positive; {len(train):,} train / {len(validation):,} validation "
          f"/ {len(test):,} test rows; champion {model_type} (class_weight {a['class_weight']}, {len(results)} trials "
          f"by {a['selection_metric']}, {seconds:.1f} s)\n")
    print(shown.round(4).to_string())
    cal, lr = table[f"champion, calibrated ({method})"], table["baseline lr"]
    brier_ok, auc_ok = cal["brier_score"] <= 1.05 * lr["brier_score"], cal["roc_auc"] >= lr["roc_auc"]
    q1, q2, npos = lr["roc_auc"] / (2 - lr["roc_auc"]), 2 * lr["roc_auc"] ** 2 / (1 + lr["roc_auc"]), int(yt.sum())
    se = ((lr["roc_auc"] * (1 - lr["roc_auc"]) + (npos - 1) * (q1 - lr["roc_auc"] ** 2)  # Hanley & McNeil (1982)
           + (len(yt) - npos - 1) * (q2 - lr["roc_auc"] ** 2)) / (npos * (len(yt) - npos))) ** 0.5
    print(f"\naim: Brier {cal['brier_score']:.4f} within 5% of the plain LR's {lr['brier_score']:.4f} or better: "
          f"{'yes' if brier_ok else 'NO'} ({cal['brier_score'] / lr['brier_score'] - 1:+.1%}); ROC AUC "
          f"{cal['roc_auc']:.4f} no worse than {lr['roc_auc']:.4f}: {'yes' if auc_ok else 'NO'} "
          f"({cal['roc_auc'] - lr['roc_auc']:+.4f}; the standard error of a test ROC AUC here is {se:.4f})")


if __name__ == "__main__":
    main()
