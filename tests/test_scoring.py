"""Batch scoring through the real CLI: CSV and Parquet in and out, chunks, the model version, rejects, whole-file errors."""
import pandas as pd
import pyarrow.parquet as pq


def champion(project) -> int:
    from mlops_nb.records import Registration
    return Registration.read(project.products("register")["registered"]).version


def batch(project) -> pd.DataFrame:
    "The test split without its label: the rows the score stage scored."
    return pd.read_parquet(project.root / "data/pipeline/prepare/test.parquet").drop(columns=["Status"])


def test_csv_to_parquet_in_chunks_with_rejects(project):
    df = batch(project).astype({"Income": object, "Age": object})
    df.loc[df.index[5], "Income"] = "lots"  # not a number: rejected, the others scored
    df.loc[df.index[117], "Age"] = "thirty"  # in the third chunk of 50
    df.to_csv(project.root / "batch.csv", index=False)
    done = project.cli("score", "batch.csv", "out.parquet", "--chunk-rows", "50")
    assert f"118 of 120 rows scored by credit-risk v{champion(project)}" in done.stdout
    assert "2 row(s) rejected" in done.stdout
    out = pd.read_parquet(project.root / "out.parquet")
    assert len(out) == 118 and set(out.model_version) == {champion(project)} and set(out.model_name) == {"credit-risk"}
    assert out.score.between(0, 1).all() and set(out.prediction) <= {"good", "bad"}  # the data's own labels
    meta = pq.read_schema(project.root / "out.parquet").metadata
    assert (meta[b"model_name"], meta[b"model_version"]) == (b"credit-risk", str(champion(project)).encode())
    rejects = pd.read_csv(project.root / "out.rejects.csv")
    assert rejects.row.tolist() == [5, 117]
    assert rejects.reason.tolist() == ['Income: "lots" is not a number', 'Age: "thirty" is not a number']
    assert not list(project.root.glob(".out*"))  # no temporary file left behind


def test_parquet_to_csv_gives_the_score_stage_scores(project):
    batch(project).to_parquet(project.root / "batch.parquet", index=False)
    project.cli("score", "batch.parquet", "out.csv", "--chunk-rows", "7")
    out = pd.read_csv(project.root / "out.csv")
    stage = pd.read_parquet(project.root / "data/pipeline/score/scores.parquet")
    pd.testing.assert_series_equal(out.score, stage.score, check_exact=False, rtol=1e-9)
    assert (out.prediction == stage.prediction).all() and not (project.root / "out.rejects.csv").exists()


def test_a_missing_column_is_an_error_and_nothing_is_written(project):
    batch(project).drop(columns=["Income"]).to_csv(project.root / "batch.csv", index=False)
    done = project.cli("score", "batch.csv", "out.csv", check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "lacks the column(s) ['Income'] that model credit-risk" in done.stderr
    assert not (project.root / "out.csv").exists() and not (project.root / "out.rejects.csv").exists()


def test_model_and_alias_options(project):
    batch(project).head(10).to_csv(project.root / "batch.csv", index=False)
    assert "10 of 10 rows scored by credit-risk v" in project.cli("score", "batch.csv", "o.csv", "--alias",
                                                                  "challenger").stdout
    done = project.cli("score", "batch.csv", "o2.csv", "--alias", "nope", check=False)  # o.csv exists now
    assert done.returncode == 2 and "has no version with alias 'nope'" in done.stderr
    done = project.cli("score", "batch.csv", "o.json", check=False)
    assert done.returncode == 2 and "must end in .csv or .parquet" in done.stderr
