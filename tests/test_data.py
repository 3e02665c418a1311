"""Data versions from files, folders of batches and SQL; the catalog and its commands; schema drift and soft checks."""
import sqlite3

import pandas as pd

from conftest import STAGES


def fails(project, *args):
    return project.fails("run", "--env", "env.test.yaml", *args)


def raw(project) -> pd.DataFrame:
    return pd.read_csv(project.root / "data/raw/credit_data.csv")


def versions(project) -> list:
    lines = project.cli("data", "list").stdout.splitlines()[1:]
    return [line.split()[0] for line in lines]


def test_a_folder_of_batches_and_a_new_batch(project):
    incoming = project.root / "data/incoming"
    incoming.mkdir()
    df = raw(project)
    df.iloc[:2000].to_csv(incoming / "batch-1.csv", index=False)
    df.iloc[2000:4000].to_csv(incoming / "batch-2.csv", index=False)
    args = ["--param", "data_path=data/incoming", "--param", "sample=0"]
    assert project.run(*args) == set(STAGES)
    assert project.run(*args) == set()  # the same input: nothing reruns
    before = versions(project)
    df.iloc[4000:].to_csv(incoming / "batch-3.csv", index=False)  # a new batch is dropped in
    assert "input file of data_path changed" in project.cli("status", "--env", "env.test.yaml", *args).stdout
    assert project.run(*args) == set(STAGES)
    new = versions(project)[-1]
    assert new not in before
    shown = project.cli("data", "show", new[:8]).stdout
    assert "rows     4454" in shown and f"parent   {before[-1]}" in shown
    diff = project.cli("data", "diff", before[-1], new).stdout
    assert "rows 4000 -> 4454 (454 added, 0 removed)" in diff


def test_the_same_content_is_the_same_version(project):
    project.run("--param", "sample=0")
    known = versions(project)
    raw(project).iloc[::-1].to_parquet(project.root / "data/raw/reversed.parquet", index=False)
    project.run("--param", "sample=0", "--param", "data_path=data/raw/reversed.parquet")
    assert versions(project) == known  # other file, other order, same content: no new version


def test_a_sql_source(project):
    db = project.root / "data/credit.sqlite"
    with sqlite3.connect(db) as con:
        raw(project).to_sql("applicants", con, index=False)
    args = ["--param", f"data_path=sqlite:///{db}", "--param", "data_query=SELECT * FROM applicants"]
    assert project.run(*args) == set(STAGES)
    assert project.run(*args) == set()
    assert "query on" in fails(project, "--param", f"data_path=sqlite:///{db}", "--param", "data_query=SELECT * FROM x")


def test_a_glob_that_matches_nothing(project):
    assert "No data files match" in fails(project, "--param", "data_path=data/incoming/*.csv")


def test_schema_drift_stops_the_run(project):
    df = raw(project)
    df.assign(Channel="web").to_csv(project.root / "data/raw/new_column.csv", index=False)
    err = fails(project, "--param", "data_path=data/raw/new_column.csv", "--param", "sample=0")
    assert "Channel: column is in the schema (a new column: schema drift)" in err
    df.assign(Home=df.Home.replace("rent", "boat")).to_csv(project.root / "data/raw/unseen.csv", index=False)
    err = fails(project, "--param", "data_path=data/raw/unseen.csv", "--param", "sample=0")
    assert "Home: a value outside `allowed` (schema drift)" in err and "boat" in err


def test_soft_checks_warn_without_stopping(project):
    df = raw(project)
    df.loc[df.index % 3 == 0, "Income"] = None
    df.to_csv(project.root / "data/raw/more_missing.csv", index=False)
    project.run("--param", "data_path=data/raw/more_missing.csv")
    report = (project.root / "data/pipeline/validate/report.html").read_text()
    assert "more than the usual" in report and "Income" in report


def test_a_single_class_label(project):
    df = raw(project)
    df[df.Status == "good"].to_csv(project.root / "data/raw/all_good.csv", index=False)
    assert "single class" in fails(project, "--param", "data_path=data/raw/all_good.csv", "--param", "sample=0")


def test_schema_infer_keeps_edits_unless_forced(project):
    done = project.cli("schema", "infer", check=False)
    assert done.returncode == 2 and "--force" in done.stderr
    project.cli("schema", "infer", "--output", "other.yaml")
    assert "Status: {type: str, nullable: false, allowed: [bad, good]" in (project.root / "other.yaml").read_text()
