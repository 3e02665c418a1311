"""The reference pipeline on a small sample: products, registry, and exactly-the-right-stages reruns."""
import json

import nbformat
import pytest

from conftest import STAGES


def downstream_of(stage):
    "The stage and those after it (in this pipeline, every later stage depends on it, but bias on features)."
    return set(STAGES[STAGES.index(stage):])


def test_every_product_and_report_exists(built):
    from mlops_nb.records import Evaluation, FeatureSet, Registration, Split, TrainingRun
    for stage in STAGES:
        declared = built.products(stage)
        for key, path in declared.items():  # a file, or a folder of files (the model card)
            assert path.stat().st_size > 0 if path.is_file() else any(path.iterdir()), (stage, key)
        assert declared["nb"].with_suffix(".html").stat().st_size > 0
    records = [(Split, "prepare", "split"), (FeatureSet, "features", "spec"), (TrainingRun, "train", "run"),
               (Evaluation, "evaluate", "evaluation"), (Registration, "register", "registered")]
    for record, stage, key in records:
        assert isinstance(record.read(built.products(stage)[key]), record)
    assert (built.products("register")["card"] / "model_card.md").is_file()
    index = (built.root / "data/pipeline/index.html").read_text()
    for stage in STAGES:
        assert f"href='{stage}/report.html'" in index


def test_executed_notebooks_hold_parameters_and_outputs(built):
    nb = nbformat.read(built.root / "data/pipeline/evaluate/report.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "min_roc_auc = 0.6" in injected[0].source  # from env.test.yaml
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the confusion matrix and ROC curve, and the reliability curve before/after: each once


def test_registry_holds_a_champion_with_lineage(built):
    out = built.cli("models").stdout
    assert "challenger,champion" in out and "credit-risk" in out
    client = built.registry()
    mv = client.get_model_version_by_alias("credit-risk", "champion")
    version = json.loads((built.root / "data/pipeline/ingest/data_version.json").read_text())["id"]
    assert mv.tags["data_version"] == version
    assert {"git_commit", "git_dirty", "run_id", "gate_passed", "gate_reasons"} <= set(mv.tags)
    run = client.get_run(mv.run_id)
    assert run.data.metrics["roc_auc"] >= 0.6 and "cv_roc_auc" in run.data.metrics
    trials = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert len(trials) == 3 and all("cv_roc_auc" in t.data.metrics for t in trials)  # the tuning trials, nested
    best = max(trials, key=lambda t: t.data.metrics["cv_roc_auc"])
    assert run.data.params["model_type"] == best.data.params["model_type"]  # the best trial's candidate, refitted
    assert {"demographic_parity_difference", "equalized_odds_difference"} <= set(run.data.metrics)
    own = f"v{mv.version}"  # each version's own folder: another version of the same run has its own
    cards = {a.path for a in client.list_artifacts(mv.run_id, f"model_card/{own}")}
    assert cards == {f"model_card/{own}/model_card.md", f"model_card/{own}/model_card.html"}
    for stage in STAGES[:STAGES.index("register")]:  # the executed notebooks that made the model travel with it
        logged = {a.path for a in client.list_artifacts(mv.run_id, f"reports/{own}/{stage}")}
        assert logged == {f"reports/{own}/{stage}/report.ipynb", f"reports/{own}/{stage}/report.html"}, logged
    scores = __import__("pandas").read_parquet(built.root / "data/pipeline/score/scores.parquet")
    assert set(scores.model_version) == {int(mv.version)}


def test_second_run_skips_every_stage(project):
    assert project.run() == set()
    assert "outdated" not in project.cli("status", "--env", "env.test.yaml").stdout


@pytest.mark.parametrize("param", ["n_estimators=10", "seed=7"])  # a new model seed: a new model on the same data
def test_a_parameter_reruns_the_stages_that_take_it(project, param):
    assert project.run("--param", param) == downstream_of("train")


def test_a_parameter_read_by_an_early_stage_reruns_it_and_downstream(project):
    assert project.run("--param", "test_size=0.3") == downstream_of("prepare")


def test_a_library_function_reruns_the_stages_that_call_it(project):
    project.edit("mlops_nb/drift.py", "e, a = np.clip(expected, EPS, None), np.clip(actual, EPS, None)",
                 "e, a = np.clip(expected, EPS / 2, None), np.clip(actual, EPS / 2, None)")
    assert "library code changed: drift.psi" in project.cli("status", "--env", "env.test.yaml").stdout
    assert project.run() == {"monitor"}
    project.edit("mlops_nb/evaluate.py", "ok = value is not None and ok_if(value, limit)",
                 "ok = (value is not None) and ok_if(value, limit)")  # same code: the AST does not change
    assert project.run() == set()
    project.edit("mlops_nb/prepare.py", "df.drop_duplicates(subset=features)", "df.drop_duplicates(subset=features, keep='last')")
    assert project.run() == downstream_of("prepare")


def test_library_docstrings_and_comments_do_not_rerun(project):
    project.edit("mlops_nb/prepare.py", '"`df` without exact duplicate rows', '"`df` with no duplicate rows')
    assert project.run() == set()


def test_changed_raw_data_reruns_everything(project):
    raw = project.root / "data/raw/credit_data.csv"
    lines = raw.read_text().splitlines()
    raw.write_text("\n".join(lines[:-1]) + "\n")  # one applicant fewer
    assert "input file of data_path changed" in project.cli("status", "--env", "env.test.yaml").stdout
    assert project.run() == set(STAGES)


def _edit_cell(path, cell_type, change):
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == cell_type and "parameters" not in c.metadata.get("tags", []))
    cell.source = change(cell.source)
    nbformat.write(nb, path)


def test_markdown_and_comments_in_a_stage_rerun_nothing(project):
    path = project.root / "nbs/pipeline/30_prepare.ipynb"
    _edit_cell(path, "markdown", lambda s: s + "\n\nA note for the reader.")
    _edit_cell(path, "code", lambda s: "# a comment\n" + s)
    assert project.run() == set()


def test_stage_code_reruns_that_stage_and_downstream(project):
    _edit_cell(project.root / "nbs/pipeline/40_features.ipynb", "code", lambda s: s + "\nprint('features!')")
    assert project.run() == downstream_of("features")


def test_force_reruns_everything(project):
    assert project.run("--force") == set(STAGES)
