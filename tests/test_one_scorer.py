"""One scorer: the same 1,000 rows through `mlops-nb serve`, `mlops-nb score`, `mlflow models serve` and
`mlflow.pyfunc.load_model(...).predict` get the same label (in the data's own values) and score, and each answer names
the model version."""
import json
import sys

import numpy as np
import pandas as pd

from conftest import free_port, start_server
from test_serving import BIN, COLUMNS, MODEL, environment, post, serve, stop

ROWS = 1000


def rows(project) -> pd.DataFrame:
    "The first 1,000 rows of the raw data, missing values included."
    return pd.read_csv(project.root / "data/raw/credit_data.csv")[COLUMNS].head(ROWS)


def body(df: pd.DataFrame, scores: bool = True) -> str:
    return json.dumps({"dataframe_split": json.loads(df.to_json(orient="split", index=False)),
                       "params": {"scores": scores}})


def answered(response, version: int) -> pd.DataFrame:
    "The rows of a REST answer, each naming the version."
    assert response.status_code == 200, response.text
    out = pd.DataFrame(response.json()["predictions"])
    assert (out.model_version == version).all() and (out.model_name == MODEL).all(), out.head()
    return out


def test_four_paths_give_the_same_labels_and_scores(project):
    df, version = rows(project), project.champion()
    assert df.isna().any(axis=1).sum() > 10  # missing values among the rows: the same imputation everywhere

    # 1. mlops-nb serve over HTTP on loopback
    ours, url = serve(project)
    try:
        response = post(url, body(df))
        rest = answered(response, version)
        assert response.json()["model_version"] == version and response.headers["X-Model-Version"] == str(version)
        plain = post(url, body(df, scores=False)).json()["predictions"]  # without params.scores: no score
        assert "score" not in plain[0] and [r["prediction"] for r in plain] == list(rest.prediction)
        bad = post(url, json.dumps({"dataframe_split": {"columns": COLUMNS, "data": []}, "params": {"scores": "yes"}}))
        assert bad.status_code == 400 and "params.scores" in bad.json()["message"], bad.text
    finally:
        stop(ours)

    # 2. mlops-nb score on a file
    df.to_csv(project.root / "rows.csv", index=False)
    project.cli("score", "rows.csv", "scored.csv")
    batch = pd.read_csv(project.root / "scored.csv")
    assert len(batch) == ROWS and not (project.root / "scored.rejects.csv").exists()
    assert (batch.model_version == version).all()

    # 3. mlflow models serve, a real subprocess
    port = free_port()
    store = f"sqlite:///{project.root / 'data/mlflow.db'}"
    theirs = start_server([*environment(project, MLFLOW_TRACKING_URI=store), str(BIN / "mlflow"), "models", "serve",
                           "-m", f"models:/{MODEL}/{version}", "--env-manager", "local", "--host", "127.0.0.1",
                           "--port", str(port)], f"http://127.0.0.1:{port}/ping")
    try:
        mlflow_rest = answered(post(f"http://127.0.0.1:{port}", body(df)), version)
    finally:
        stop(theirs)

    # 4. mlflow.pyfunc.load_model(...).predict, in this process
    sys.path.insert(0, str(project.root))
    import mlflow
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/{version}")
    numeric = [c.name for c in model.metadata.get_input_schema().inputs if c.type.name == "double"]
    direct = model.predict(df.astype({c: float for c in numeric}), params={"scores": True})
    assert (direct.model_version == version).all()

    labels = {"mlops-nb serve": list(rest.prediction), "mlops-nb score": list(batch.prediction),
              "mlflow models serve": list(mlflow_rest.prediction), "pyfunc": list(direct.prediction)}
    scores = {"mlops-nb serve": rest.score, "mlops-nb score": batch.score, "mlflow models serve": mlflow_rest.score,
              "pyfunc": direct.score}
    for path in labels:
        assert labels[path] == labels["pyfunc"], path
        np.testing.assert_allclose(np.asarray(scores[path], float), direct.score.to_numpy(), rtol=0, atol=1e-12,
                                   err_msg=path)
    assert set(labels["pyfunc"]) == {"good", "bad"}  # the data's own values, both among the answers

    # the version's decision threshold, not argmax: some rows score above 0.5 and are still `good`, or the reverse
    threshold = float(project.registry().get_model_version(MODEL, str(version)).tags["decision_threshold"])
    s, bad_label = direct.score.to_numpy(), direct.prediction.eq("bad").to_numpy()
    assert (bad_label == (s >= threshold)).all()
    assert threshold != 0.5 and (bad_label != (s >= 0.5)).any(), threshold


def test_rest_and_batch_refuse_the_same_values_with_the_same_words(project):
    "One input check: a bad value gets the same words from `mlops-nb serve` (a 400) and `mlops-nb score` (a reject)."
    good = rows(project).dropna().head(3).reset_index(drop=True)
    text = good.astype(str).assign(Age=["41", "thirty", "38"], Income=["120", "95", "1e400"])  # CSV: no types
    cases = [("csv", text, {1: 'Age: "thirty" is not a number', 2: "Income: Infinity is not a finite number"}),
             # JSON and Parquet: typed values, one refused kind each
             ("parquet", good.assign(Age=["30", "41", "38"]), {i: f'Age: "{a}" is not a number'
                                                               for i, a in enumerate(["30", "41", "38"])}),
             ("parquet", good.assign(Age=[True, False, True]), {0: "Age: true is not a number",
                                                                1: "Age: false is not a number",
                                                                2: "Age: true is not a number"}),
             ("parquet", good.assign(Income=[95.0, np.inf, 120.0]), {1: "Income: Infinity is not a finite number"}),
             ("parquet", good.assign(Home=[1, 2, 3]), {i: f"Home: {i + 1} is not a string" for i in range(3)})]
    ours, url = serve(project)
    try:
        for kind, df, expected in cases:
            if kind == "csv":
                response = post(url, df.to_csv(index=False), "text/csv")
            else:  # json.dumps writes Infinity and true, as a client would
                response = post(url, json.dumps({"dataframe_split": df.to_dict(orient="split", index=False)}))
            i = min(expected)
            column, what = expected[i].split(": ", 1)
            assert response.status_code == 400, response.text
            assert response.json()["message"].startswith(f"Column {column!r} row {i}: {what}: send "), response.text
    finally:
        stop(ours)
    for n, (kind, df, expected) in enumerate(cases):
        path = project.root / f"bad{n}.{kind}"
        df.to_csv(path, index=False) if kind == "csv" else df.to_parquet(path, index=False)
        project.cli("score", path.name, f"out{n}.csv")
        rejects = pd.read_csv(project.root / f"out{n}.rejects.csv")
        assert dict(zip(rejects.row, rejects.reason)) == expected, (path.name, rejects)
