"""`mlops-nb serve` under attack: malformed and hostile bodies get a 4xx naming the problem (never a 500 nor a silent
shift of values), slow clients are cut off, a token hides the model from anonymous callers, bad settings are one line.

One server for the whole module (a copy of the `built` project, a token, a read timeout of READ_TIMEOUT seconds and a
cap of MAX_CONNECTIONS connections); every request is real HTTP on loopback, bounded in time."""
import json
import select
import shutil
import socket
import sys
import time

import pytest
import requests

from conftest import Project, free_port, start_server
from test_serving import COLUMNS, bodies, environment, sample, stop

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
READ_TIMEOUT = 2.0
MAX_CONNECTIONS = 150
JSON, CSV = "application/json", "text/csv"
SERVE = ("import sys; from pathlib import Path; from mlops_nb.config import Project; "
         "from mlops_nb.serving import serve; "
         "serve(Project(Path(sys.argv[1])), port=int(sys.argv[2]), read_timeout=float(sys.argv[3]), "
         "max_connections=int(sys.argv[4]))")


@pytest.fixture(scope="module")
def server(built, tmp_path_factory):
    "(project, base URL) of one server on a private copy of the built project, with a token, for the module."
    project = Project(tmp_path_factory.mktemp("hardening") / "project")
    shutil.copytree(built.root, project.root, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server([*environment(project, MLOPS_NB_SERVE_TOKEN=TOKEN), sys.executable, "-c", SERVE,
                         str(project.root), str(port), str(READ_TIMEOUT), str(MAX_CONNECTIONS)], f"{url}/ping")
    yield project, url
    stop(proc)


def post(url, body, content_type="application/json", **headers):
    return requests.post(f"{url}/invocations", data=body, headers={"Content-Type": content_type, **AUTH, **headers},
                         timeout=30)


def rejected(url, body, content_type="application/json", status=400, **headers) -> str:
    "The message of a request that must be answered `status` with a short JSON error."
    r = post(url, body, content_type, **headers)
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert len(r.content) < 3000, len(r.content)
    return r.json()["message"]


def records(project, n=3) -> list:
    return json.loads(sample(project, n).to_json(orient="records"))


def no_500(url):
    metrics = requests.get(f"{url}/metrics", headers=AUTH, timeout=10).text
    assert 'code="500"' not in metrics


def test_deep_nesting_is_400_not_a_recursion_error(server):
    project, url = server
    for depth in (1_000, 100_000):
        message = rejected(url, '{"inputs": ' + "[" * depth + "]" * depth + "}")
        assert "nested too deeply" in message, message
    row = records(project, 1)[0]
    deep_cell = json.dumps({"dataframe_records": [{**row, "Age": "@"}]}).replace('"@"', "[" * 900 + "]" * 900)
    assert "Column 'Age' row 0" in rejected(url, deep_cell)
    no_500(url)


def test_non_finite_numbers_are_400_naming_the_column_and_nan_is_a_missing_value(server):
    project, url = server
    row = records(project, 1)[0]
    data = [[row[c] for c in COLUMNS], ["@", *(row[c] for c in COLUMNS[1:])]]

    def split(literal):  # two rows, the second's Seniority (the first column) written as `literal`
        return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": data}}).replace('"@"', literal)
    for literal in ("Infinity", "-Infinity", "1e400", "-1e999", "1" + "0" * 400):
        message = rejected(url, split(literal))
        assert "Column 'Seniority' row 1" in message and "is not a finite number" in message, (literal, message)
    csv = sample(project, 2).to_csv(index=False).splitlines()
    for text in ("inf", "-inf", "1e400", "Infinity"):
        fields = csv[2].split(",")
        fields[COLUMNS.index("Income")] = text
        message = rejected(url, "\n".join([*csv[:2], ",".join(fields)]) + "\n", "text/csv")
        assert "Column 'Income' row 1" in message and "not a finite number" in message, (text, message)

    with_nan = split("NaN")  # Python's json.dumps writes a missing float as NaN: it means null, as "nan" in CSV does
    with_null = split("null")
    assert post(url, with_nan).json()["predictions"] == post(url, with_null).json()["predictions"]
    nan_csv = "\n".join([csv[0], csv[1].replace(csv[1].split(",")[0], "nan", 1)]) + "\n"
    assert post(url, nan_csv, "text/csv").status_code == 200

    def strict(constant):
        raise AssertionError(f"{constant} in the prediction log")
    lines = [line for f in (project.root / "data/predictions").glob("*/*.jsonl") for line in f.read_text().splitlines()]
    assert len(lines) >= 5
    for line in lines:
        json.loads(line, parse_constant=strict)


def test_csv_rows_longer_or_shorter_than_the_header_are_400_naming_the_line(server):
    project, url = server
    lines = sample(project, 3).to_csv(index=False).splitlines()
    longer = "\n".join([*lines[:3], lines[3] + ",9"]) + "\n"
    assert "CSV line 4 has 14 values but the header names 13 columns" in rejected(url, longer, "text/csv")
    all_longer = "\n".join([lines[0], *(line + ",9" for line in lines[1:])]) + "\n"  # pandas took column 1 as index
    assert "CSV line 2 has 14 values" in rejected(url, all_longer, "text/csv")
    shorter = "\n".join([lines[0], lines[1], lines[2].rsplit(",", 2)[0]]) + "\n"
    assert "CSV line 3 has 11 values" in rejected(url, shorter, "text/csv")
    quoted = "\n".join([lines[0], '"a\nb",' + lines[1].split(",", 1)[1], lines[2] + ",x"]) + "\n"  # a 2-line field
    assert "CSV line 4 has 14 values" in rejected(url, quoted, "text/csv")
    assert post(url, "\n".join(lines) + "\n\n", "text/csv").status_code == 200  # a trailing blank line is fine


def test_error_messages_are_bounded(server):
    project, url = server
    row = records(project, 1)[0]
    columns = {c: [row[c]] for c in COLUMNS} | {f"unknown_{i}": [1] for i in range(200_000)}
    message = rejected(url, json.dumps({"inputs": columns}))
    assert "Unexpected column(s) ['unknown_0'," in message and "'unknown_9', ... and 199990 more]" in message, message
    long_name = {c: [row[c]] for c in COLUMNS} | {"x" * 100_000: [1]}
    assert "'xxxxx" in rejected(url, json.dumps({"inputs": long_name}))
    assert len(rejected(url, "{}", "x" * 20_000, status=415)) < 300
    many_keys = json.dumps({f"k{i}": 1 for i in range(100_000)})
    assert "... and 99990 more" in rejected(url, many_keys)


def test_slow_clients_are_cut_off_while_others_are_served(server):
    project, url = server
    good = bodies(sample(project, 2))["dataframe_split"][1]
    body = b'{"inputs": [' + b" " * 900 + b"]}"
    head = (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {TOKEN}"
            f"\r\nContent-Length: {len(body)}\r\n").encode()
    slow_headers = [open_socket(url) for _ in range(50)]  # the headers one byte at a time
    slow_bodies = [open_socket(url) for _ in range(50)]  # the headers at once, then the body one byte at a time
    for s in slow_bodies:
        s.sendall(head + b"\r\n")
    start, sent, closed, answers, served = time.monotonic(), 0, {}, {}, []
    while len(closed) < 100 and time.monotonic() - start < READ_TIMEOUT + 8:
        for s in slow_headers + slow_bodies:
            if s not in closed:
                try:
                    s.send((head if s in slow_headers else body)[sent:sent + 1])
                except OSError:
                    pass
        sent += 1
        if len(served) < 3:
            served.append(post(url, good).status_code)  # a normal client meanwhile
        ready, _, _ = select.select([s for s in slow_headers + slow_bodies if s not in closed], [], [], 0.25)
        for s in ready:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            answers[s] = answers.get(s, b"") + data
            if not data:
                closed[s] = time.monotonic() - start
    for s in slow_headers + slow_bodies:
        s.close()
    assert served == [200, 200, 200]
    assert len(closed) == 100, f"{100 - len(closed)} slow connections still open after {time.monotonic() - start:.1f}s"
    assert max(closed.values()) < READ_TIMEOUT + 2, max(closed.values())
    assert not any(answers.get(s) for s in slow_headers)  # closed without an answer
    assert all(answers[s].startswith(b"HTTP/1.1 408 ") and b"did not arrive within 2 s" in answers[s]
               for s in slow_bodies), answers[slow_bodies[0]][:300]
    assert post(url, good).status_code == 200


def test_a_short_body_under_a_large_content_length_times_out_and_a_huge_one_is_413_at_once(server):
    project, url = server
    head = (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {TOKEN}"
            "\r\nContent-Length: {}\r\n\r\n{{}}")
    for length, status, within in ((1000, b"408", READ_TIMEOUT + 2), (10 ** 12, b"413", 1.0)):
        s = open_socket(url)
        start = time.monotonic()
        s.sendall(head.format(length).encode())
        answer = read_until_closed(s, within + 3)
        assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
        assert time.monotonic() - start < within, time.monotonic() - start


def test_over_the_connection_cap_the_longest_waiting_make_room_or_a_newcomer_gets_503(server):
    project, url = server
    good = bodies(sample(project, 1))["dataframe_split"][1]
    idle = [open_socket(url) for _ in range(MAX_CONNECTIONS + 20)]  # connected, sending nothing
    try:
        time.sleep(0.5)
        answered = [i for i, s in enumerate(idle) if select.select([s], [], [], 0)[0]]
        assert 20 <= len(answered) <= 25 and max(answered) < 30, answered  # the oldest were closed, unanswered
        assert all(read_until_closed(idle[i], 1) == b"" for i in answered)
        assert post(url, good).status_code == 200  # room is made for a quick client
    finally:
        for s in idle:
            s.close()
    time.sleep(0.5)
    head = (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer "
            f"{TOKEN}\r\nContent-Length: 100\r\n\r\n").encode()
    busy = [open_socket(url) for _ in range(MAX_CONNECTIONS)]  # each in the middle of a request (its body is due)
    try:
        for s in busy:
            s.sendall(head)
        time.sleep(0.5)
        newcomer = open_socket(url)
        answer = read_until_closed(newcomer, 3)
        assert answer.startswith(b"HTTP/1.1 503 ") and b"Too many open connections" in answer, answer[:300]
    finally:
        for s in busy:
            s.close()
    time.sleep(0.5)
    assert post(url, good).status_code == 200


def test_a_token_hides_the_model_from_anonymous_callers(server):
    project, url = server
    good = bodies(sample(project, 1))["dataframe_split"][1]
    anonymous = requests.get(f"{url}/ping", timeout=10)
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    assert "x-model-version" not in anonymous.headers and "credit" not in anonymous.text
    for path in ("/health", "/version", "/metrics"):
        r = requests.get(f"{url}{path}", timeout=10)
        assert r.status_code == 401 and "credit" not in r.text and "x-model-version" not in r.headers, path
        assert requests.get(f"{url}{path}", headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    assert requests.post(f"{url}/invocations", data=good, headers={"Content-Type": "application/json"},
                         timeout=10).status_code == 401
    # a token holder gets what it got before
    assert requests.get(f"{url}/ping", headers=AUTH, timeout=10).json() == {
        "status": "ok", "model_name": "credit-risk", "model_version": 1}
    assert requests.get(f"{url}/health", headers=AUTH, timeout=10).json()["model_version"] == 1
    assert requests.get(f"{url}/version", headers=AUTH, timeout=10).json()["model_name"] == "credit-risk"
    assert "mlops_nb_requests_total" in requests.get(f"{url}/metrics", headers=AUTH, timeout=10).text
    r = post(url, good)
    assert r.status_code == 200 and r.headers["X-Model-Version"] == "1"


def test_bad_requests_of_every_kind_get_a_4xx_naming_the_problem(server):
    project, url = server
    rows = records(project, 2)
    good = json.dumps({"dataframe_records": rows})
    csv = sample(project, 2).to_csv(index=False)
    cases = [
        ("empty body", "", JSON, 400, "The body is empty"),
        ("only blanks", "  \n ", JSON, 400, "The body is empty"),
        ("a JSON list", json.dumps(rows), JSON, 400, "got a JSON list"),
        ("a JSON string", '"hello"', JSON, 400, "got a JSON str"),
        ("a JSON number", "1e400", JSON, 400, "got a JSON float"),
        ("split: fewer columns than values", json.dumps({"dataframe_split": {"columns": COLUMNS[:-1], "data": [
            [rows[0][c] for c in COLUMNS]]}}), JSON, 400, "`dataframe_split.data` row 0 must be a list of 12 values"),
        ("split: more columns than values", json.dumps({"dataframe_split": {"columns": COLUMNS + ["Extra"], "data": [
            [rows[0][c] for c in COLUMNS]]}}), JSON, 400, "row 0 must be a list of 14 values"),
        ("split: repeated column", json.dumps({"dataframe_split": {"columns": COLUMNS[:-1] + ["Age"], "data": [
            [rows[0][c] for c in COLUMNS]]}}), JSON, 400, "repeats the column name(s) ['Age']"),
        ("CSV: repeated column", csv.replace("Job", "Age", 1), CSV, 400,
         "CSV header repeats the column name(s) ['Age']"),
        ("records: a row lacks a column", json.dumps({"dataframe_records": [rows[0], {
            k: v for k, v in rows[1].items() if k != "Age"}]}), JSON, 400, "row 1 lacks the column(s) ['Age']"),
        ("wrong content type", good, "text/plain", 415, "not supported"),
        ("gzip", b"\x1f\x8b\x08\x00", JSON, 415, "Content-Encoding 'gzip' is not supported"),
        ("no content type", good, "", 415, "not supported"),
        ("form content type", good, "application/x-www-form-urlencoded", 415, "not supported"),
        ("JSON not UTF-8", good.replace('"Job"', '"J\xf6b"').encode("latin-1"), JSON, 400, "not UTF-8"),
        ("CSV not UTF-8", csv.replace("Job", "J\xf6b").encode("latin-1"), CSV, 400, "not UTF-8"),
        ("CSV with a NUL byte", csv.replace("Job", "J\0b"), CSV, 400, "unexpected column(s) ['J\\x00b']"),
        ("a string for a number", json.dumps({"dataframe_records": [{**rows[0], "Age": "30"}]}), JSON, 400,
         "Column 'Age' row 0: \"30\" is not a number"),
        ("a list for a number", json.dumps({"dataframe_records": [{**rows[0], "Age": [30]}]}), JSON, 400,
         "Column 'Age' row 0: [30] is not a number"),
        ("a boolean for a number", json.dumps({"dataframe_records": [{**rows[0], "Age": True}]}), JSON, 400,
         "Column 'Age' row 0: true is not a number"),
        ("a number for a string", json.dumps({"dataframe_records": [{**rows[0], "Job": 1}]}), JSON, 400,
         "Column 'Job' row 0: 1 is not a string"),
        ("an unknown top-level field", json.dumps({"dataframe_records": rows, "parms": {}}), JSON, 400,
         "Unknown field(s) ['parms']"),
        ("params not an object", json.dumps({"dataframe_records": rows, "params": [1]}), JSON, 400,
         "`params` must be an object"),
        ("params a string", json.dumps({"dataframe_records": rows, "params": "x"}), JSON, 400, "`params` must be"),
        ("unknown column", json.dumps({"dataframe_records": [{**rows[0], "Colour": "red"}]}), JSON, 400,
         "Unexpected column(s) ['Colour']"),
        ("instances of scalars", json.dumps({"instances": [[1, 2]]}), JSON, 400, "must be a list of objects"),
        ("a request id of 10 kB", good, JSON, 400, "X-Request-ID header is 10000 characters"),
    ]
    headers = {"a request id of 10 kB": {"X-Request-ID": "r" * 10_000}, "gzip": {"Content-Encoding": "gzip"}}
    for what, body, content_type, status, expected in cases:
        message = rejected(url, body, content_type, status, **headers.get(what, {}))
        assert expected in message, (what, message)
    chunked = requests.post(f"{url}/invocations", data=iter([b" " * 1024 * 1024] * 6),  # 6 MB chunked, no length
                            headers={"Content-Type": JSON, **AUTH}, timeout=30)
    assert chunked.status_code == 413 and "over the limit" in chunked.json()["message"]
    assert post(url, good).status_code == 200 and post(url, csv, CSV).status_code == 200
    assert post(url, good, "application/json; charset=UTF-8").status_code == 200
    no_500(url)


def test_bad_settings_are_one_line_and_exit_2(server):
    project, url = server
    for args, expected in ((["--port", "99999"], "--port must be a whole number from 1 to 65535, got 99999"),
                           (["--port", "0"], "--port must be a whole number from 1 to 65535, got 0"),
                           (["--port", "-5"], "got -5"),
                           (["--workers", "0"], "--workers must be a whole number of at least 1, got 0"),
                           (["--reload-seconds", "nan"], "--reload-seconds must be a number of seconds"),
                           (["--max-bytes", "0"], "--max-bytes must be"),
                           (["--port", url.rsplit(":", 1)[1]], "choose another --port")):  # in use by the server
        stderr = project.fails("serve", *args)
        assert expected in stderr, (args, stderr)
        assert len(stderr.strip().splitlines()) == 1, stderr


def open_socket(url) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10)
    s.setblocking(False)
    return s


def read_until_closed(s, seconds) -> bytes:
    "What the server sends on `s` until it closes the connection (at most `seconds` later)."
    data, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        if select.select([s], [], [], 0.1)[0]:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    s.close()
    return data
