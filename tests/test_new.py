"""A team's own project, as a new user makes one: the wheel installed with pip, `mlops-nb new` on their data in a
folder that is not this repository, then every command of the lifecycle in that folder."""
import json
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import requests
import yaml

from conftest import free_port, start_server


def loans(n=3000, seed=0) -> pd.DataFrame:
    "Loan applications with the columns a real export has: an id, a date, free text, a constant, gaps, a rare label."
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "application_ref": [f"A{i:07d}" for i in range(n)],
        "applied_on": (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 525_600, n), "min")).astype(str),
        "income_k": rng.gamma(4, 12, n).round(1),
        "loan_k": rng.gamma(2, 8, n).round(1),
        "years_employed": rng.integers(0, 40, n),
        "region": rng.choice(["north", "south", "east", "west"], n),
        "channel": rng.choice(["web", "branch", "phone"], n, p=[0.6, 0.3, 0.1]),
        "notes": [f"customer said {w} on call {i}" for i, w in enumerate(rng.choice(["yes", "no", "maybe"], n))],
        "source_system": "crm",
        "empty_col": np.nan,
    })
    df.loc[rng.random(n) < 0.05, "income_k"] = np.nan
    df.loc[rng.random(n) < 0.03, "channel"] = None
    risk = df.loan_k / df.income_k.fillna(48) * 3 - df.years_employed / 15 + rng.normal(0, 0.6, n)
    df["defaulted"] = np.where(risk > 1.0, "yes", "no")
    return df


class User:
    "Commands as a user with only the wheel types them: the installed `mlops-nb`, in a folder, no repository around."

    def __init__(self, venv, folder):
        self.venv, self.folder = venv, folder
        self.env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI",
                                                                    "PYTHONPATH", "MLOPS_NB_ROOT")}
        self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{self.env.get('PATH', '')}"

    def __call__(self, *args, cwd=None, check=True) -> subprocess.CompletedProcess:
        done = subprocess.run(["mlops-nb", *args], cwd=cwd or self.folder, env=self.env, capture_output=True,
                              text=True, timeout=900)
        if check:
            assert done.returncode == 0, f"mlops-nb {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def fails(self, *args, cwd=None) -> str:
        done = self(*args, cwd=cwd, check=False)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (done.stdout, done.stderr)
        return done.stderr


@pytest.fixture(scope="module")
def made(installed, tmp_path_factory):
    "A user's folder with their data and a project made by `mlops-nb new` and run once with its small env file."
    folder = tmp_path_factory.mktemp("user")
    loans().to_csv(folder / "loans.csv", index=False)
    user = User(installed, folder)
    new = user("new", "loans", "--data", "loans.csv", "--target", "defaulted")
    user.folder = folder / "loans"  # from now on the user works in the project
    run = user("run", "--env", "env.test.yaml")
    return user, user.folder, new.stdout, run.stdout


def test_new_infers_the_contract(made):
    user, root, said, _ = made
    env = yaml.safe_load((root / "env.yaml").read_text())
    assert (env["target"], env["labels"], env["positive_class"]) == ("defaulted", ["no", "yes"], "yes")
    assert env["numeric_features"] == ["income_k", "loan_k", "years_employed"]
    assert env["categorical_features"] == ["region", "channel"]
    assert (env["entity_key"], env["event_time"]) == ("application_ref", "applied_on")
    assert (env["model_name"], env["sensitive_features"]) == ("loans", {})
    text = (root / "env.yaml").read_text()
    for column, why in [("notes", "free text"), ("source_system", "constant"), ("empty_col", "all missing")]:
        assert f"left out {column}: {why}" in said
        assert any(line.startswith(f"# - {column}") and why in line for line in text.splitlines()), column
    assert yaml.safe_load((root / "pipeline.yaml").read_text())["tasks"][0]["source"] == "toolkit:ingest"
    assert not (root / "nbs").exists()  # the stages are the toolkit's, in the package


def test_lifecycle_in_the_project(made):
    user, root, _, ran = made
    assert "10 of 10 stage(s) ran" in ran
    assert "champion" in user("models").stdout
    assert "toolkit 0.1.0" in user("status", "--env", "env.test.yaml").stdout
    loans(200, seed=1).drop(columns="defaulted").to_csv(root / "new_rows.csv", index=False)
    assert "200 of 200 rows scored by loans v1" in user("score", "new_rows.csv", "scored.csv").stdout
    port = free_port()
    command = ["env", "-C", str(root), *(f"{k}={v}" for k, v in user.env.items()), "mlops-nb", "serve", "--port", str(port)]
    server = start_server(command, f"http://127.0.0.1:{port}/ping")
    try:
        rows = pd.read_csv(root / "new_rows.csv").head(3)[["income_k", "loan_k", "years_employed", "region", "channel"]]
        answer = requests.post(f"http://127.0.0.1:{port}/invocations", data=rows.to_csv(index=False), timeout=30,
                               headers={"Content-Type": "text/csv"})
        assert answer.ok and len(answer.json()["predictions"]) == 3, answer.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    user("monitor")
    assert "reproduced: metrics and test-set predictions are identical" in user("reproduce", "loans", "1").stdout
    user("docs", "--no-execute")
    assert (root / "data/docs/index.html").exists()


def outdated(user, cwd=None) -> set:
    "The stages `mlops-nb status` says are outdated."
    lines = user("status", "--env", "env.test.yaml", cwd=cwd).stdout.splitlines()[1:]
    return {line.split()[0] for line in lines if line.split()[1] == "outdated"}


def add_cell(path, code: str):
    "Append a code cell to the notebook at `path`, as a person editing it would."
    nb = json.loads(path.read_text())
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": f"edit{len(nb['cells'])}", "metadata": {},
                        "outputs": [], "source": [code]})
    path.write_text(json.dumps(nb))


def test_stage_copy_and_toolkit_upgrade(made, tmp_path):
    "A copied stage is the team's: a toolkit upgrade leaves it alone, editing it reruns it and what follows."
    user, root, _, _ = made
    other = tmp_path / "other"
    shutil.copytree(root, other)  # a second project of the same team
    assert "stages/50_train.ipynb" in user("stage", "copy", "train", cwd=other).stdout
    assert "source: stages/50_train.ipynb" in (other / "pipeline.yaml").read_text()
    assert outdated(user, other) == set()  # the copy is the same code: nothing to rerun
    toolkit, = user.venv.glob("lib/python*/site-packages/mlops_nb/toolkit/stages/50_train.ipynb")
    release = toolkit.read_text()
    try:
        add_cell(toolkit, "upgraded = True")  # a new release of the toolkit changes its train stage
        downstream = {"train", "evaluate", "register", "score", "monitor"}
        assert outdated(user) == downstream  # the project on the toolkit's stage takes the upgrade
        assert outdated(user, other) == set()  # the one that copied it keeps its own
    finally:
        toolkit.write_text(release)
    add_cell(other / "stages/50_train.ipynb", "print('the team was here')")
    assert outdated(user, other) == downstream
    assert "stages/50_train.ipynb" in user("status", cwd=other).stdout


def test_bad_input(made, tmp_path):
    user, root, _, _ = made
    data = root.parent / "loans.csv"
    assert "did you mean 'defaulted'" in user.fails("new", str(tmp_path / "a"), "--data", str(data), "--target", "default")
    assert "binary classification" in user.fails("new", str(tmp_path / "b"), "--data", str(data), "--target", "region")
    assert "one value" in user.fails("new", str(tmp_path / "c"), "--data", str(data), "--target", "source_system")
    (tmp_path / "empty.csv").write_text("")
    assert "no rows" in user.fails("new", str(tmp_path / "d"), "--data", str(tmp_path / "empty.csv"), "--target", "x")
    (tmp_path / "garbage.csv").write_bytes(bytes(range(256)) * 8)
    user.fails("new", str(tmp_path / "e"), "--data", str(tmp_path / "garbage.csv"), "--target", "x")
    assert "exists and is not empty" in user.fails("new", str(root), "--data", str(data), "--target", "defaulted")
    explore = tmp_path / "explore.ipynb"  # reads and writes outside any project: it cannot be a stage
    explore.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "execution_count": None, "id": "a", "metadata": {}, "outputs": [],
         "source": ["import pandas as pd\n", "pd.read_csv('/etc/hosts').to_csv('/tmp/out.csv')"]}]}))
    err = user.fails("new", str(tmp_path / "f"), "--data", str(data), "--target", "defaulted", "--from-notebook",
                     str(explore))
    assert "cannot become a stage" in err and "/etc/hosts" in err
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "env.yaml").write_text("mine: 1\n")
    (repo / "README.md").write_text("# mine\n")
    err = user.fails("init", "--data", str(data), "--target", "defaulted", cwd=repo)
    assert "env.yaml" in err and "README.md" in err
    assert sorted(p.name for p in repo.iterdir()) == ["README.md", "env.yaml"]  # nothing added, nothing replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.csv", "explore.ipynb", "garbage.csv", "repo"]  # no half-made project
