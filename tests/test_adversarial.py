"""The adversarial round of the security issue, rerun as a table: bad input, attacks and careless use against a built
project, through the CLI and over HTTP. Every case must end cleanly (exit 2 with one line and no traceback, or a 4xx),
leave its inputs as they were and write nothing outside the project. The focused tests of each fix live beside their
modules; this file is the round itself, so its figures can be quoted: one case, one test."""
import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import requests

from conftest import Project
from test_serving import COLUMNS, sample, serve, stop

TOKEN = "adversarial-round-token"
RCE = [  # each would run a command (or reach Python's internals) through a derived feature
    "Amount * 0 + @pd.io.common.os.system('touch {marker}')",
    "@X.__class__.__init__.__globals__",
    "__import__('os').system('touch {marker}')",
    "Amount.__class__",
    "Amount.apply(lambda v: open('{marker}', 'w'))",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "Amount[0]",
    "(x := 1)",
    "f'{{Amount}}'",
    " + ".join(["Amount"] * 5000),
]


@pytest.fixture(scope="module")
def arena(built, tmp_path_factory):
    "A private copy of the built project, the folder beside it (which must stay empty), and a marker path."
    base = tmp_path_factory.mktemp("arena")
    project = Project(base / "project")
    shutil.copytree(built.root, project.root, ignore=shutil.ignore_patterns("__pycache__"))
    outside = base / "outside"
    outside.mkdir()
    rows = sample(project, 30)
    rows.to_csv(project.root / "rows.csv", index=False)
    (project.root / "garbage.csv").write_bytes(bytes(range(256)) * 40)
    (project.root / "empty.csv").write_text("")
    (project.root / "fake.parquet").write_text("Seniority,Time\n1,2\n")
    (project.root / "scored.csv").write_text("kept,as,it,was\n")
    (project.root / "a_file").write_text("not a folder\n")
    return project, outside


def digests(root: Path) -> dict:
    "path -> content hash of every file under `root` (what a case must leave as it was)."
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def run_case(arena, args) -> str:
    "Run `mlops-nb ARGS`, which must fail cleanly, touch no input file and write nothing outside: its stderr."
    project, outside = arena
    inputs = {p: d for p, d in digests(project.root).items() if p.parent == project.root}
    err = project.fails(*args)
    assert err.strip() and len(err.strip().splitlines()) <= 3, err
    assert {p: d for p, d in digests(project.root).items() if p in inputs} == inputs, "an input file was changed"
    assert not any(outside.iterdir()), f"written outside the project: {list(outside.iterdir())}"
    return err


def param(name, value) -> list:
    return ["run", "--env", "env.test.yaml", "--param", f"{name}={value}"]


@pytest.mark.parametrize("expr", RCE, ids=[f"rce{i}" for i in range(len(RCE))])
def test_derived_feature_cannot_run_code(arena, expr):
    project, outside = arena
    marker = outside / "pwned"
    err = run_case(arena, param("derived_features", json.dumps({"pwn": expr.format(marker=marker)})))
    assert "pwn" in err and not marker.exists()


CLI_CASES = {
    "feature_view outside": lambda o: param("feature_view", f"../{o.name}/x"),
    "feature_view traversal": lambda o: param("feature_view", "../../../../tmp/x"),
    "model_name traversal": lambda o: param("model_name", "../../x"),
    "webhook file": lambda o: param("alert_webhook", "file:///etc/passwd"),
    "webhook data": lambda o: param("alert_webhook", "data:text/plain,hi"),
    "webhook ftp": lambda o: param("alert_webhook", "ftp://127.0.0.1/x"),
    "sample negative": lambda o: param("sample", "-5"),
    "unknown parameter": lambda o: param("n_estimator", "5"),
    "wrong type": lambda o: param("n_estimators", "many"),
    "score into its input": lambda o: ["score", "rows.csv", "rows.csv"],
    "score into its input, other spelling": lambda o: ["score", "rows.csv", "./data/../rows.csv"],
    "score over an output": lambda o: ["score", "rows.csv", "scored.csv"],
    "score into a missing folder": lambda o: ["score", "rows.csv", f"{o}/missing/out.csv"],
    "score under a file": lambda o: ["score", "rows.csv", "a_file/out.csv"],
    "score garbage": lambda o: ["score", "garbage.csv", "out1.csv"],
    "score empty": lambda o: ["score", "empty.csv", "out2.csv"],
    "score fake parquet": lambda o: ["score", "fake.parquet", "out3.csv"],
    "score missing input": lambda o: ["score", "nothing.csv", "out4.csv"],
    "score a folder": lambda o: ["score", "data", "out5.csv"],
    "score chunk 0": lambda o: ["score", "rows.csv", "out6.csv", "--chunk-rows", "0"],
    "score chunk -1": lambda o: ["score", "rows.csv", "out7.csv", "--chunk-rows", "-1"],
    "score unknown model": lambda o: ["score", "rows.csv", "out8.csv", "--model", "nobody"],
    "score unknown alias": lambda o: ["score", "rows.csv", "out9.csv", "--alias", "nobody"],
    "feedback garbage": lambda o: ["feedback", "garbage.csv"],
    "feedback empty": lambda o: ["feedback", "empty.csv"],
    "feedback missing": lambda o: ["feedback", "nothing.csv"],
    "monitor since notadate": lambda o: ["monitor", "--since", "notadate"],
    "monitor garbage batch": lambda o: ["monitor", "--batch", "garbage.csv"],
    "export airflow to a file": lambda o: ["export", "airflow", "a_file"],
    "serve port 99999": lambda o: ["serve", "--port", "99999"],
    "serve port -1": lambda o: ["serve", "--port", "-1"],
    "serve workers 0": lambda o: ["serve", "--workers", "0"],
    "docs onto a file": lambda o: ["docs", "--no-execute", "--out", "pipeline.yaml"],
    "docs onto the project": lambda o: ["docs", "--no-execute", "--out", "."],
    "promote unknown version": lambda o: ["promote", "credit-risk", "999", "--by", "me", "--reason", "x"],
    "reproduce unknown version": lambda o: ["reproduce", "credit-risk", "999"],
    "data show unknown": lambda o: ["data", "show", "ffffffffff"],
    "stage unknown": lambda o: ["run", "--stage", "nostage"],
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_case(arena, case):
    run_case(arena, CLI_CASES[case](arena[1]))


def test_no_case_trained_a_model(arena):
    "None of the runs above got as far as registering a version."
    project, _ = arena
    assert len(project.registry().search_model_versions("name='credit-risk'")) == 1


@pytest.fixture(scope="module")
def server(arena):
    project, _ = arena
    proc, url = serve(project, env={"MLOPS_NB_SERVE_TOKEN": TOKEN})
    yield url, sample(project, 5)
    stop(proc)


def deep(n: int) -> str:
    return "[" * n + "]" * n


def split_body(rows: pd.DataFrame, **change) -> str:
    body = json.loads(rows.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": {**body, **change}})


def csv_with_row(rows: pd.DataFrame, change) -> str:
    "The rows as CSV, with `change` applied to the text of the second data row."
    lines = rows.to_csv(index=False).splitlines()
    lines[2] = change(lines[2])
    return "\n".join(lines) + "\n"


HTTP_CASES = {  # name -> (content type, body of rows -> bytes)
    "nested 1000 deep": ("application/json", lambda r: f'{{"dataframe_split": {{"columns": {json.dumps(COLUMNS)}, '
                                                        f'"data": {deep(1000)}}}}}'),
    "nested json at top": ("application/json", lambda r: deep(1000)),
    "Infinity": ("application/json", lambda r: split_body(r).replace(str(r.Amount.iloc[0]), "Infinity", 1)),
    "NaN literal": ("application/json", lambda r: split_body(r).replace(str(r.Amount.iloc[0]), "NaN", 1)),
    "1e400": ("application/json", lambda r: split_body(r).replace(str(r.Amount.iloc[0]), "1e400", 1)),
    "csv inf": ("text/csv", lambda r: r.assign(Amount=[float("inf")] + list(r.Amount[1:])).to_csv(index=False)),
    "csv row too long": ("text/csv", lambda r: csv_with_row(r, lambda line: line + ",9")),
    "csv row too short": ("text/csv", lambda r: csv_with_row(r, lambda line: line.rsplit(",", 1)[0])),
    "200k unknown columns": ("application/json", lambda r: json.dumps({"dataframe_split": {
        "columns": COLUMNS + [f"c{i}" for i in range(200_000)], "data": []}})),
    "empty body": ("application/json", lambda r: ""),
    "json not an object": ("application/json", lambda r: "[1, 2, 3]"),
    "split lengths differ": ("application/json", lambda r: split_body(r, data=[[1, 2]])),
    "not utf-8": ("application/json", lambda r: b"\xff\xfe{\x00"),
    "wrong content type": ("application/xml", lambda r: "<rows/>"),
    "text in a number": ("application/json", lambda r: split_body(r).replace(str(r.Amount.iloc[0]), '"lots"', 1)),
    "unknown format key": ("application/json", lambda r: json.dumps({"dataframe": {}})),
    "params not an object": ("application/json", lambda r: json.dumps({"inputs": {c: [1] for c in COLUMNS}, "params": 5})),
    "duplicate columns": ("application/json", lambda r: split_body(r, columns=COLUMNS[:-1] + COLUMNS[:1])),
}


MISSING = {"NaN literal"}  # NaN is a missing value (as json.dumps writes one), which the model imputes: 200


@pytest.mark.parametrize("case", list(HTTP_CASES))
def test_http_case(server, case):
    url, rows = server
    kind, body = HTTP_CASES[case]
    data = body(rows)
    answer = requests.post(f"{url}/invocations", data=data.encode() if isinstance(data, str) else data, timeout=30,
                           headers={"Content-Type": kind, "Authorization": f"Bearer {TOKEN}"})
    expected = (200, 201) if case in MISSING else range(400, 500)
    assert answer.status_code in expected, (answer.status_code, answer.text[:300])
    assert len(answer.content) < 10_000, f"{len(answer.content)} bytes of error"
    assert requests.get(f"{url}/ping", timeout=10).ok  # and the server is still there


def test_http_anonymous(server):
    "With a token set, an anonymous caller gets /ping (no model named) and a 401 everywhere else."
    url, rows = server
    ping = requests.get(f"{url}/ping", timeout=10)
    assert ping.ok and "credit-risk" not in ping.text
    for path in ("health", "version", "metrics"):
        assert requests.get(f"{url}/{path}", timeout=10).status_code == 401, path
    assert requests.post(f"{url}/invocations", data=rows.to_csv(index=False), timeout=10,
                         headers={"Content-Type": "text/csv"}).status_code == 401


def test_log_is_json(arena, server):
    "After the cases above and one good request, every line of the prediction log is strict JSON."
    url, rows = server
    assert requests.post(f"{url}/invocations", data=rows.to_csv(index=False), timeout=30,
                         headers={"Content-Type": "text/csv", "Authorization": f"Bearer {TOKEN}"}).ok
    lines = [line for f in (arena[0].root / "data/predictions").rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert lines
    for line in lines:
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in the prediction log"))


def test_webhook_follows_no_redirect():
    "An alert webhook that answers 302 to ftp:// is reported, not followed; a file:// URL is never opened."
    import http.server
    import threading
    from mlops_nb.alerts import post_alerts

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(302 if self.path == "/moved" else 200)
            self.send_header("Location", "ftp://127.0.0.1/loot")
            self.end_headers()

        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        assert post_alerts(f"{url}/hook", {"alerts": []}) == ""
        assert "302" in post_alerts(f"{url}/moved", {"alerts": []})
        assert post_alerts("file:///etc/passwd", {}).startswith("not sent")
    finally:
        server.shutdown()
