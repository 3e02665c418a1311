"""The toolkit as a user installs it: the wheel, not editable, into a fresh virtual environment, with plain pip."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, start_lab


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    "A fresh virtual environment with the wheel built from this repository installed by `pip install` alone."
    base = tmp_path_factory.mktemp("install")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(base / "dist"), str(REPO)],
                   check=True, capture_output=True)
    wheel, = (base / "dist").glob("mlops_nb-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True)
    pip = subprocess.run([str(base / "venv/bin/python"), "-m", "pip", "install", "--quiet", str(wheel)],
                         capture_output=True, text=True, timeout=1200)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return base / "venv"


def test_jupyterlab_opens_a_notebook(venv):
    "ploomber's server extension, which pip enables, answers 500 to every file request: the wheel turns it off."
    assert (venv / "etc/jupyter/jupyter_server_config.d/ploomber.json").exists()  # pip did enable it
    python = venv / "bin/python"
    proc, base, _, http = start_lab(REPO, jupyter=venv / "bin/jupyter")
    try:
        assert http.get(f"{base}/api/contents/nbs/03a_bias.ipynb", timeout=30).status_code == 200
        assert http.get(f"{base}/lab/tree/nbs/03a_bias.ipynb", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert subprocess.run([str(python), "-c", "import mlops_nb.cli"], timeout=120).returncode == 0
