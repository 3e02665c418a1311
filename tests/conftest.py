"""Shared fixtures: a copy of the project in a temporary folder, built once with env.test.yaml, cloned per test."""
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("mlops-nb")
STAGES = ["ingest", "validate", "prepare", "bias", "features", "train", "evaluate", "register", "score", "monitor"]


def copy_project(dest: Path) -> Path:
    "The files a pipeline run reads, copied to `dest`, the library included (so a test may edit it)."
    from mlops_nb.projects import copy_run_files
    copy_run_files(REPO, dest)
    shutil.copytree(REPO / "mlops_nb", dest / "mlops_nb", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


class Project:
    "A project folder and its `mlops-nb` command, run with that folder's copy of the library."

    def __init__(self, root: Path):
        self.root = root

    def env(self, **extra) -> dict:
        "The environment `mlops-nb` runs with in this project: its own library copy and root, the embedded store."
        base = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        return {**base, "PYTHONPATH": str(self.root), "MLOPS_NB_ROOT": str(self.root), **extra}

    def registry(self):
        """An MLflow client on this project's store *and* registry (MlflowClient(uri) alone would take the registry of
        the process, which any in-process `mlops_nb.tracking.tracking` call points elsewhere, through the environment)."""
        from mlflow import MlflowClient
        uri = f"sqlite:///{self.root / 'data/mlflow.db'}"
        return MlflowClient(uri, registry_uri=uri)

    def products(self, stage: str) -> dict:
        "Where stage `stage` keeps its products (key -> path), as the project's pipeline.yaml declares."
        from mlops_nb.config import Project as LibraryProject
        from mlops_nb.pipeline_spec import stage_products
        return stage_products(LibraryProject(self.root), stage)

    def champion(self, name: str = "credit-risk") -> int:
        "The version the `champion` alias of model `name` points at."
        return int(self.registry().get_model_version_by_alias(name, "champion").version)

    def fails(self, *args) -> str:
        "Run `mlops-nb ARGS`, which must fail as a clear error does (status 2, no traceback): its stderr."
        done = self.cli(*args, check=False)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (done.stdout, done.stderr)
        return done.stderr

    def cli(self, *args, check=True, env=None) -> subprocess.CompletedProcess:
        "Run `mlops-nb ARGS` in the project (with extra environment variables `env`)."
        done = subprocess.run([str(CLI), *args], cwd=self.root, env=self.env(**(env or {})), capture_output=True,
                              text=True, timeout=900)
        if check and done.returncode:
            raise AssertionError(f"mlops-nb {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def run(self, *args, **kw) -> set:
        "Run the test pipeline; the set of stages that ran."
        done = self.cli("run", "--env", "env.test.yaml", *args, **kw)
        return {m.group(1) for m in re.finditer(r"^\s*(\w+)\s+True\s", done.stdout, re.M)}

    def edit(self, relpath: str, old: str, new: str):
        "Replace `old` (which must be there) by `new` in a project file."
        path = self.root / relpath
        text = path.read_text()
        assert old in text, f"{old!r} not in {relpath}"
        path.write_text(text.replace(old, new, 1))


END_TO_END = {"built", "project", "installed", "tracking_server"}  # fixtures that build a pipeline, a venv or a server


def pytest_collection_modifyitems(items):
    "A test that needs a built project, an installed wheel or a tracking server is end-to-end: `-m e2e` (make test-all)."
    for item in items:
        if END_TO_END & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Project:
    "The test pipeline, built once."
    project = Project(copy_project(tmp_path_factory.mktemp("built")))
    ran = project.run()
    assert ran == set(STAGES), ran
    return project


@pytest.fixture
def project(built, tmp_path) -> Project:
    "A private copy of the built project, every stage up to date."
    dest = tmp_path / "project"
    shutil.copytree(built.root, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return Project(dest)


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    "A fresh virtual environment with the wheel built from this repository, installed by a plain `pip install`."
    base = tmp_path_factory.mktemp("install")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(base / "dist"), str(REPO)],
                   check=True, capture_output=True)
    wheel, = (base / "dist").glob("mlops_nb-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True)
    pip = subprocess.run([str(base / "venv/bin/python"), "-m", "pip", "install", "--quiet", str(wheel)],
                         capture_output=True, text=True, timeout=1200)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return base / "venv"


def free_port() -> int:
    "A free TCP port on loopback."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what, timeout=90):
    "Poll `check()` until it returns a true value, failing with `what` after `timeout` seconds."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_server(cmd: list, url: str, http=requests, timeout=120) -> subprocess.Popen:
    "Start a server process and wait until GET `url` answers 200 (failing with its output if it exits first)."
    import tempfile
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a pipe nobody reads fills up and blocks the server
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log = log

    def up():
        if proc.poll() is not None:
            log.seek(0)
            raise AssertionError(f"{Path(cmd[0]).name} exited:\n{log.read()}")
        try:
            return http.get(url, timeout=2).ok
        except requests.ConnectionError:
            return False
    wait_for(up, f"{url} to answer", timeout)
    return proc


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory) -> str:
    "`mlflow server` on loopback with a SQLite backend and local artifacts: its URL."
    d, port = tmp_path_factory.mktemp("mlflow-server"), free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server([str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port",
                         str(port), "--workers", "1", "--backend-store-uri", f"sqlite:///{d / 'mlflow.db'}",
                         "--artifacts-destination", str(d / "artifacts")], f"{url}/health")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def start_lab(root: Path, jupyter: Path | None = None) -> tuple:
    """JupyterLab (this environment's, or the `jupyter` command given) on loopback over `root`, with a token:
    (process, base url, token, requests session sending the token)."""
    port, token = free_port(), secrets.token_hex(16)
    base, http = f"http://127.0.0.1:{port}", requests.Session()
    http.headers["Authorization"] = f"token {token}"
    jupyter = jupyter or Path(sys.executable).with_name("jupyter")
    proc = start_server([str(jupyter), "lab", "--no-browser", "--allow-root", f"--port={port}",
                         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                         f"--ServerApp.root_dir={root}"], f"{base}/api/status", http)
    return proc, base, token, http
