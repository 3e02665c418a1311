"""The HTML docs site after a run: every link leads to a page of the site, API pages hold the docstrings and the
examples' outputs; and the CI workflow that builds it is valid."""
import html
import shutil

import pytest
import yaml

from conftest import REPO, STAGES


@pytest.fixture
def site(project):
    "The docs site of a built test project, its library notebooks included."
    for nb in (REPO / "nbs").glob("*.ipynb"):
        shutil.copy2(nb, project.root / "nbs" / nb.name)
    out = project.cli("docs").stdout
    assert "data/docs/index.html" in out
    return project.root / "data/docs"


def test_every_link_leads_to_a_page_of_the_site(site, project):
    from mlops_nb.docs import broken_links, library_notebooks
    from mlops_nb.config import Project
    assert broken_links(site) == []
    index = (site / "index.html").read_text()
    for stage in STAGES:
        assert f"href='reports/{stage}/report.html'" in index
    assert "href='reports/register/model_card/model_card.html'" in index
    assert (site / "reports/register/model_card/model_card.md").is_file()
    notebooks = library_notebooks(Project(project.root))
    assert len(notebooks) >= 15
    for nb in notebooks:
        assert f"href='api/{nb.stem}.html'" in index
    monitor = (site / "reports/monitor/report.html").read_text()
    assert "class='mlops-nb-nav'" in monitor and "href='../../index.html'" in monitor  # the navigation bar
    assert "href='../reports/monitor/report.html'>Monitoring" in (site / "api/00_config.html").read_text()


def test_api_pages_hold_docstrings_and_example_outputs(site, project):
    from mlops_nb.docs import api_summary
    for module, page in [("pipeline", "10_pipeline"), ("monitoring", "09_monitoring"), ("config", "00_config")]:
        text = (site / f"api/{page}.html").read_text()
        names = api_summary(project.root / f"mlops_nb/{module}.py")
        assert names and all(html.escape(doc) in text for _, _, doc in names if doc), module
        assert "Shown without outputs" not in text  # the notebook ran
        assert "jp-OutputArea-output" in text  # and its examples' outputs are on the page
        assert "#| export" not in text and "from fastcore.test import" not in text  # directives and hidden cells
    assert "failed:" not in (site / "index.html").read_text()


def test_the_site_replaces_itself_but_no_other_folder(site, project):
    (site / "stale.html").write_text("old")
    project.cli("docs", "--no-execute")
    assert not (site / "stale.html").exists()
    assert "not run for this build" in (site / "api/05_train.html").read_text()
    done = project.cli("docs", "--out", "nbs", check=False)
    assert done.returncode == 2 and "is not a docs site built by mlops-nb" in done.stderr
    assert (project.root / "nbs/pipeline/10_ingest.ipynb").is_file()


def test_ci_workflow_runs_the_notebooks_pipeline_and_uploads_the_reports():
    wf = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request", "schedule"} <= set(on) and on["schedule"][0]["cron"]
    steps = wf["jobs"]["test"]["steps"]
    runs = [s.get("run", "") for s in steps]
    for command in ["make check-clean", "make test-all", 'make run ARGS="--env env.test.yaml"', ".venv/bin/mlops-nb docs"]:
        assert command in runs, command
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.11" and python["with"]["cache"] == "pip"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@v4"))
    assert "data/pipeline/**/*.html" in upload["with"]["path"] and "data/docs/" in upload["with"]["path"]
    assert upload["if"] == "always()"
    assert "$(BIN)/mlops-nb run $(ARGS)" in (REPO / "Makefile").read_text()
