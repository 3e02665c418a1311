"""The widgets of examples/widgets.ipynb render and act in a real JupyterLab, driven by headless Chromium (Playwright)."""
import json
import os
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest

from conftest import REPO, start_lab, wait_for

CHROMIUM = Path(os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")  # Playwright downloads none
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),  # in CI a missing browser fails
                                reason="needs chromium (apt-get install -y chromium; `make test` installs it)")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
NOTEBOOK = "examples/widgets.ipynb"


def _stripped_copy(dest: Path):
    "examples/widgets.ipynb without outputs, so that only this run's outputs can pass the checks."
    nb = nbformat.read(REPO / NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


def _register_failed_version(root: Path) -> int:
    "A second version of the built model that failed its gates (alias challenger): something to promote and roll back."
    from mlops_nb.config import Project
    from mlops_nb.evaluate import Verdict
    from mlops_nb.pipeline_spec import stage_products
    from mlops_nb.records import TrainingRun
    from mlops_nb.registry import register
    run = TrainingRun.read(stage_products(Project(root), "train")["run"])
    return register(Project(root), "credit-risk", asdict(run), Verdict(False, ["roc_auc 0.6000 < 0.9 (test)"]),
                    run.lineage)["version"]


def _champion(root: Path) -> int:
    from mlops_nb.config import Project
    from mlops_nb.registry import model_version
    return int(model_version(Project(root), "credit-risk").version)


@pytest.fixture
def lab(project, tmp_path, monkeypatch):
    "JupyterLab on loopback over a built project holding a fresh copy of the example: (base url, token, project root)."
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = project.root
    _stripped_copy(root / NOTEBOOK)
    settings = tmp_path / "lab-settings"
    news = settings / "@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))  # no news pop-up, no request
    for name, value in {"JUPYTER_CONFIG_DIR": tmp_path / "jupyter-config", "JUPYTERLAB_SETTINGS_DIR": settings,
                        "JUPYTERLAB_WORKSPACES_DIR": tmp_path / "lab-workspaces", "PYTHONPATH": root}.items():
        monkeypatch.setenv(name, str(value))  # the server and its kernels inherit them
    proc, base, token, _ = start_lab(root)
    yield base, token, root
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # a server that hangs in shutdown must not outlive the test
        proc.kill()
        proc.wait(timeout=30)


def test_widgets_render_and_act_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    base, token, root = lab
    v2 = _register_failed_version(root)
    assert (v2, _champion(root)) == (2, 1)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            expect.set_options(timeout=60_000)  # a loaded machine answers slowly; a missing element still fails
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            idle = page.locator("#jp-main-statusbar").get_by_text("Idle")
            expect(idle).to_be_visible(timeout=120_000)  # the kernel is up
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

            # Every view rendered as widgets; the unknown model gave a message, and no cell an error.
            registry_view = page.locator(".mlops-registry-view")
            for view in (".mlops-run-form", ".mlops-runs-view", ".mlops-registry-view", ".mlops-drift-view"):
                expect(page.locator(view)).to_be_visible(timeout=180_000)
            expect(page.locator(".mlops-message", has_text="No registered model named")).to_be_visible()
            expect(idle).to_be_visible(timeout=120_000)
            assert page.locator(".jupyter-widgets").count() > 20
            assert page.locator("[data-mime-type='application/vnd.jupyter.error']").count() == 0
            assert page.locator(".mlops-drift-view img").evaluate("img => img.naturalWidth") > 100
            expect(page.locator(".mlops-runs-table table")).to_contain_text("roc_auc")
            page.screenshot(path=shots / "1-rendered.png", full_page=True)

            # Promote a version that failed its gates: refused with the registry's message, champion unchanged.
            registry_view.locator(".mlops-registry-version select").select_option(label=str(v2))
            registry_view.locator(".mlops-registry-who input").fill("browser-test")
            registry_view.locator(".mlops-registry-reason input").fill("checked by hand")
            registry_view.locator("button.mlops-promote").click()
            note = registry_view.locator(".mlops-registry-note")
            expect(note).to_contain_text("failed its gates")
            assert _champion(root) == 1
            # With the override it becomes champion: the page and the registry say so, and the audit log has it.
            registry_view.get_by_text("override failed gates (logged)").click()
            registry_view.locator("button.mlops-promote").click()
            expect(note).to_contain_text(f"v{v2} is now champion")
            expect(registry_view.locator(".mlops-audit-log")).to_contain_text("OVERRIDE of failed gates: checked by hand")
            expect(registry_view.locator(".mlops-registry-versions")).to_contain_text("challenger,champion")
            assert _champion(root) == v2
            page.screenshot(path=shots / "2-promoted.png", full_page=True)
            registry_view.locator("button.mlops-rollback").click()
            expect(note).to_contain_text("rolled back to v1")
            assert _champion(root) == 1

            # The run form runs the pipeline with a changed parameter: only the monitor stage reruns, with it.
            form = page.locator(".mlops-run-form")
            threshold = form.locator(".mlops-param-drift_threshold input")
            threshold.fill("0.3")
            threshold.press("Enter")
            form.locator("button.mlops-run-button").click()
            result = form.locator(".mlops-run-result table")
            expect(result).to_be_visible(timeout=300_000)
            expect(form).to_contain_text("1 of 10 stage(s) ran")
            expect(form).to_contain_text("drift_threshold=0.3")
            meta = json.loads((root / "data/pipeline/monitor/.drift.csv.metadata").read_text())
            assert meta["params"]["drift_threshold"] == 0.3

            # Twice more in the same kernel: each run finishes in the form and rewrites the report index.
            index = root / "data/pipeline/index.html"
            for rate in ("0.25", "0.3"):
                written = index.stat().st_mtime
                missing = form.locator(".mlops-param-max_missing_rate input")
                missing.fill(rate)
                missing.press("Enter")
                form.locator("button.mlops-run-button").click()
                expect(form).to_contain_text(f"max_missing_rate={rate}", timeout=300_000)
                expect(form).to_contain_text("1 of 10 stage(s) ran", timeout=300_000)
                wait_for(lambda: index.stat().st_mtime > written, "the report index to be rewritten", timeout=60)
            meta = json.loads((root / "data/pipeline/monitor/.drift.csv.metadata").read_text())
            assert meta["params"]["max_missing_rate"] == 0.3
            final = shots / "3-after-run.png"
            result.scroll_into_view_if_needed()
            page.screenshot(path=final, full_page=True)
        finally:
            browser.close()
    kept = root / "data/screenshots/widgets.png"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(final, kept)
    print(f"screenshots: {shots}; final one kept as {kept}")
