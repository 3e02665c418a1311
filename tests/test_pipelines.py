"""Several pipelines in one project, each with its own products; one stage run alone, as an orchestrator's task does."""
import re

import pytest

from test_export import second_pipeline


def ran(done) -> set:
    return {m.group(1) for m in re.finditer(r"^\s*(\w+)\s+True\s", done.stdout, re.M)}


def test_a_second_pipeline_runs_apart_from_the_default(project):
    second_pipeline(project, name="mini", schedule="schedule: {every: 1d}\n")
    done = project.cli("run", "--pipeline", "mini", "--env", "env.test.yaml")
    assert ran(done) == {"ingest", "validate", "prepare"}
    assert "reports: data/pipeline/index.mini.html" in done.stdout
    for rel in ["ingest/data_version.json", "validate/validated.parquet", "prepare/train.parquet",
                "prepare/report.html"]:
        assert (project.root / "data/pipeline/mini" / rel).is_file(), rel
    index = (project.root / "data/pipeline/index.mini.html").read_text()
    assert "href='mini/prepare/report.html'" in index
    assert ran(project.cli("run", "--pipeline", "mini", "--env", "env.test.yaml")) == set()
    assert "outdated" not in project.cli("status", "--env", "env.test.yaml").stdout  # the default one is untouched
    assert "outdated" not in project.cli("status", "--pipeline", "mini", "--env", "env.test.yaml").stdout


def test_one_stage_alone(project):
    assert ran(project.cli("run", "--env", "env.test.yaml", "--stage", "monitor")) == set()  # up to date
    assert ran(project.cli("run", "--env", "env.test.yaml", "--stage", "monitor", "--force")) == {"monitor"}
    args = ["run", "--env", "env.test.yaml", "--param", "n_estimators=10"]
    done = project.cli(*args, "--stage", "evaluate", check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Stage 'evaluate' needs its upstream stage 'train', which is not up to date (parameter n_estimators" \
           in done.stderr
    assert ran(project.cli(*args, "--stage", "train")) == {"train"}
    assert ran(project.cli(*args, "--stage", "evaluate")) == {"evaluate"}
    status = project.cli("status", *args[1:]).stdout
    assert re.search(r"evaluate\s+up to date", status) and re.search(r"register\s+outdated", status)
    done = project.cli("run", "--env", "env.test.yaml", "--stage", "nope", check=False)
    assert done.returncode == 2 and "No stage 'nope' in pipeline.yaml; stages: ingest," in done.stderr


def test_stage_io_finds_the_pipeline_of_a_stage(project, monkeypatch):
    from mlops_nb.config import ConfigError
    from mlops_nb.pipeline import stage_io
    second_pipeline(project, name="mini")
    monkeypatch.setenv("MLOPS_NB_ROOT", str(project.root))
    monkeypatch.delenv("MLOPS_NB_PIPELINE", raising=False)
    upstream, product = stage_io("train")  # only in the default pipeline
    assert product["run"] == str(project.root / "data/scratch/train/run.json")  # by hand: a scratch place of its own
    assert upstream["features"]["spec"] == str(project.root / "data/pipeline/features/feature_spec.json")
    with pytest.raises(ConfigError, match=r"Stage 'ingest' is in several pipelines \(default, mini\)"):
        stage_io("ingest")
    upstream, product = stage_io("validate", pipeline="mini")
    assert upstream["ingest"]["version"] == str(project.root / "data/pipeline/mini/ingest/data_version.json")
    monkeypatch.setenv("MLOPS_NB_PIPELINE", "mini")
    assert stage_io("prepare")[1]["nb"] == str(project.root / "data/scratch/mini/prepare/report.ipynb")
