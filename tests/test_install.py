"""The toolkit as a user installs it: the wheel, not editable, into a fresh virtual environment, with plain pip."""
import subprocess

from conftest import REPO, start_lab


def test_jupyterlab_opens_a_notebook(installed):
    "ploomber's server extension, which pip enables, answers 500 to every file request: the wheel turns it off."
    assert (installed / "etc/jupyter/jupyter_server_config.d/ploomber.json").exists()  # pip did enable it
    proc, base, _, http = start_lab(REPO, jupyter=installed / "bin/jupyter")
    try:
        assert http.get(f"{base}/api/contents/nbs/03a_bias.ipynb", timeout=30).status_code == 200
        assert http.get(f"{base}/lab/tree/nbs/03a_bias.ipynb", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert subprocess.run([str(installed / "bin/python"), "-c", "import mlops_nb.cli"], timeout=120).returncode == 0
