"""Airflow export: one DAG file per pipeline with the pipeline's tasks, dependencies and schedule; a broken pipeline
names the stage and nothing is written. (A real Airflow runs the export in scripts/check_airflow.sh.)"""
import ast
import json

import pytest

from conftest import STAGES, Project, copy_project


@pytest.fixture
def fresh(tmp_path) -> Project:
    "The project's pipeline files, nothing built (exporting needs no run)."
    return Project(copy_project(tmp_path / "project"))


def second_pipeline(project: Project, name="hgb", schedule="schedule:\n  cron: '0 3 * * *'\n", prefix=None):
    "pipeline.NAME.yaml: the ingest, validate and prepare stages of pipeline.yaml, with products of their own."
    text = (project.root / "pipeline.yaml").read_text()
    tasks = text[text.index("  - name: ingest"):text.index("  - name: bias")]
    (project.root / f"pipeline.{name}.yaml").write_text(
        schedule + "tasks:\n" + tasks.replace("data/pipeline/", prefix or f"data/pipeline/{name}/"))


def dag_structure(path):
    "(dag_id, schedule source, {task_id: bash_command}, {(upstream, downstream)}) read from a DAG file's text."
    tree = ast.parse(path.read_text())
    compile(tree, str(path), "exec")
    dag = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DAG")
    kw = {k.arg: k.value for k in dag.keywords}
    tasks, edges = {}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "BashOperator":
            args = {k.arg: k.value for k in node.keywords if k.arg}
            tasks[ast.literal_eval(args["task_id"])] = ast.literal_eval(args["bash_command"])
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            edges.add((ast.literal_eval(node.left.slice), ast.literal_eval(node.right.slice)))
    return ast.literal_eval(kw["dag_id"]), ast.unparse(kw["schedule"]), ast.literal_eval(kw["catchup"]), tasks, edges


def test_a_dag_per_pipeline_with_its_tasks_dependencies_and_schedule(fresh, tmp_path):
    second_pipeline(fresh)
    out = fresh.cli("export", "airflow", str(tmp_path / "dags"), "--env", "env.test.yaml").stdout
    assert "default_dag.py" in out and "hgb_dag.py" in out
    dag_id, schedule, catchup, tasks, edges = dag_structure(tmp_path / "dags/default_dag.py")
    assert (dag_id, schedule, catchup) == ("default", "None", False)
    assert list(tasks) == STAGES
    assert tasks["train"].endswith("mlops-nb run --env env.test.yaml --pipeline default --stage train")
    assert {("ingest", "validate"), ("prepare", "train"), ("features", "train"), ("train", "evaluate"),
            ("register", "score"), ("score", "monitor")} <= edges
    assert all(a in STAGES and b in STAGES and STAGES.index(a) < STAGES.index(b) for a, b in edges)
    dag_id, schedule, catchup, tasks, edges = dag_structure(tmp_path / "dags/hgb_dag.py")
    assert (dag_id, schedule, list(tasks)) == ("hgb", "'0 3 * * *'", ["ingest", "validate", "prepare"])
    assert edges == {("ingest", "validate"), ("ingest", "prepare"), ("validate", "prepare")}
    assert "--pipeline hgb --stage prepare" in tasks["prepare"]
    assert f"PROJECT = {str(fresh.root)!r}" in (tmp_path / "dags/hgb_dag.py").read_text()


def test_every_schedule_becomes_a_timedelta(fresh, tmp_path):
    second_pipeline(fresh, schedule="schedule: {every: 1h30m}\n")
    fresh.cli("export", "airflow", str(tmp_path / "dags"))
    assert dag_structure(tmp_path / "dags/hgb_dag.py")[1] == "timedelta(seconds=5400)"


def set_upstream(project: Project, notebook: str, upstream: list):
    path = project.root / "nbs/pipeline" / notebook
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    source = "".join(cell["source"])
    start = source.index("upstream =")
    cell["source"] = source[:start] + f"upstream = {upstream!r}" + source[source.index("\n", start):]
    path.write_text(json.dumps(nb))


def test_a_cycle_names_the_stages_and_writes_nothing(fresh, tmp_path):
    set_upstream(fresh, "10_ingest.ipynb", ["monitor"])
    err = fresh.fails("export", "airflow", str(tmp_path / "dags"))
    assert "The stages of pipeline.yaml form a cycle: ingest -> monitor -> " in err and " -> ingest: remove" in err
    assert not (tmp_path / "dags").exists()


def test_a_missing_upstream_names_the_stage_and_writes_nothing(fresh, tmp_path):
    second_pipeline(fresh)  # a good pipeline is not written either when another is broken
    set_upstream(fresh, "50_train.ipynb", ["prepare", "nope"])
    err = fresh.fails("export", "airflow", str(tmp_path / "dags"))
    assert "Stage 'train' names upstream 'nope', which is not a stage of pipeline.yaml" in err
    assert not (tmp_path / "dags").exists()


def test_a_stage_declared_twice_is_named(fresh, tmp_path):
    second_pipeline(fresh)
    path = fresh.root / "pipeline.hgb.yaml"
    text = path.read_text()
    path.write_text(text + text[text.index("  - name: validate"):text.index("  - name: prepare")])
    assert "Stage 'validate' is declared twice in pipeline.hgb.yaml" in fresh.fails("export", "airflow", "dags")
    assert not (fresh.root / "dags").exists()


def test_two_pipelines_cannot_share_a_product(fresh):
    second_pipeline(fresh, prefix="data/pipeline/")
    err = fresh.fails("status", "--pipeline", "hgb")
    assert "Stage 'ingest' of pipeline.hgb.yaml declares the product data/pipeline/ingest/report.ipynb, as does " \
           "stage 'ingest' of pipeline.yaml: give each pipeline its own product paths" in err


def test_a_bad_schedule_and_an_unknown_pipeline(fresh):
    second_pipeline(fresh, schedule="schedule: {every: daily}\n")
    assert "`schedule:` in pipeline.hgb.yaml must be `every: 1h`" in fresh.fails("export", "airflow", "dags")
    assert "Pipelines of this project: default, hgb." in fresh.fails("run", "--pipeline", "nope")


def test_pipelines_lists_stages_and_schedules(fresh):
    second_pipeline(fresh, schedule="schedule: {every: 6h}\n")
    out = fresh.cli("pipelines").stdout.splitlines()
    assert out[1].split() == ["default", "pipeline.yaml", "10", "on", "demand"]
    assert out[2].split() == ["hgb", "pipeline.hgb.yaml", "3", "6:00:00"]
