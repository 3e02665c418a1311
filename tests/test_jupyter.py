"""JupyterLab opens the project's notebooks and starts kernels; stage notebooks run as they are, outside a pipeline."""
import json
import os
import uuid

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO, start_lab


@pytest.fixture(scope="module")
def lab():
    "A JupyterLab server on loopback over the repository, with a token: (base url, requests session)."
    proc, base, _, http = start_lab(REPO)
    yield base, http
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.parametrize("path", ["nbs/00_config.ipynb", "nbs/10_pipeline.ipynb", "nbs/pipeline/50_train.ipynb"])
def test_notebooks_open(lab, path):
    base, http = lab
    r = http.get(f"{base}/api/contents/{path}", params={"content": 1}, timeout=30)
    assert r.status_code == 200, r.text  # ploomber's server extension turns this into a 500
    assert r.json()["type"] == "notebook" and r.json()["content"]["cells"]


def test_lab_page_loads(lab):
    base, http = lab
    r = http.get(f"{base}/lab", timeout=30)
    assert r.status_code == 200 and "JupyterLab" in r.text


def _execute(ws, session_id, code):
    "Run `code` on the kernel behind websocket `ws`: (status, printed text)."
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({"header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session_id,
                                   "username": "test", "version": "5.3"},
                        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                        "content": {"code": code, "silent": False, "store_history": False,
                                    "user_expressions": {}, "allow_stdin": False}}))
    printed, status = [], None
    while status is None:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            printed.append(msg["content"]["evalue"])
        elif msg["msg_type"] == "execute_reply":
            status = msg["content"]["status"]
    return status, "".join(printed)


def test_a_kernel_starts_and_imports_the_library(lab):
    import websocket
    base, http = lab
    r = http.post(f"{base}/api/sessions", json={"path": "nbs/00_config.ipynb", "type": "notebook",
                                                "kernel": {"name": "python3"}}, timeout=60)
    assert r.status_code == 201, r.text
    kernel = r.json()["kernel"]["id"]
    try:
        ws = websocket.create_connection(f"{base.replace('http', 'ws')}/api/kernels/{kernel}/channels",
                                         header=[f"Authorization: {http.headers['Authorization']}"], timeout=60)
        status, out = _execute(ws, uuid.uuid4().hex, "import mlops_nb.config as c; print(c.find_root().name)")
        ws.close()
        assert (status, out.strip()) == ("ok", REPO.name)
    finally:
        http.delete(f"{base}/api/sessions/{r.json()['id']}", timeout=30)


@pytest.mark.parametrize("stage", ["20_validate", "90_monitor"])
def test_stage_notebook_runs_as_it_is(project, stage):
    "Opened by hand (product = None), a stage finds its inputs and parameters through pipeline.yaml and env.yaml."
    path = project.root / "nbs/pipeline" / f"{stage}.ipynb"
    nb = nbformat.read(path, as_version=4)
    os.environ["PYTHONPATH"] = str(project.root)  # the kernel imports this project's copy of the library
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.pop("PYTHONPATH")
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
