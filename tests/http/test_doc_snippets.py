"""Every Python example of README.md and docs/http.md runs, and does what the text says.

The blocks of a document run in order in one namespace, as a reader would run them;
``app.run()`` is replaced by a recorder (the examples are served by the tests instead).
The quick start's curl lines are replayed against it and compared with the answers the
doc prints, and the middleware example is served to show the mixed chain working.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
from typing import Any

import pytest
from doc_snippets import DOCS, blocks
from engine_helpers import serve

from gmp.http import Engine, Server

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def no_serving(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Engine.run and Server.run record their call instead of serving."""
    calls: list[Any] = []

    def engine_run(self: Engine, *args: Any, **kwargs: Any) -> int:
        calls.append(("engine", args, kwargs))
        return 0

    def server_run(self: Server, *args: Any, **kwargs: Any) -> int:
        calls.append(("server", args, kwargs))
        return 0

    monkeypatch.setattr(Engine, "run", engine_run)
    monkeypatch.setattr(Server, "run", server_run)
    return calls


def run_blocks(doc: str, chosen: list[int] | None = None) -> tuple[dict[str, Any], str]:
    """Run the python blocks of ``doc`` (those starting on lines ``chosen``, or all) in
    one namespace; return it and what they printed."""
    ns: dict[str, Any] = {"__name__": "doc_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for line, code in blocks(doc):
            if chosen is not None and line not in chosen:
                continue
            exec(compile(code, f"{doc}:{line}", "exec"), ns)
    return ns, out.getvalue()


@pytest.mark.parametrize("doc", DOCS)
def test_every_python_block_runs(doc, no_serving):
    assert blocks(doc), f"{doc} has no python blocks"
    run_blocks(doc)


def test_readme_examples_print_what_they_compute(no_serving):
    _, printed = run_blocks("README.md")
    # the first example: the sum of i*i for i < 100; the channels one: 0+...+9;
    # the trio one: sum([1, 2, 3])
    assert printed.split() == [str(sum(i * i for i in range(100))), "45", "6"]
    assert [kind for kind, _, _ in no_serving] == ["engine"]  # app.run() in the README


def curl_lines(doc: str) -> list[tuple[str, str, bytes | None, Any]]:
    """The curl commands of ``doc``'s sh blocks with the JSON answer written after each
    (on the same line or the next one, as a comment)."""
    out = []
    for _, code in blocks(doc, "sh"):
        lines = code.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("curl "):
                continue
            command, _, comment = line.partition("  #")
            if not comment.strip() and i + 1 < len(lines) and lines[i + 1].startswith("#"):
                comment = lines[i + 1][1:]
            words = shlex.split(command)
            method, data, url = "GET", None, ""
            for j, word in enumerate(words[1:], 1):
                if word.startswith("-X"):
                    method = word[2:]
                elif word == "-d":
                    data = words[j + 1].encode()
                elif word.startswith("localhost:"):
                    url = word
            path = "/" + url.split("/", 1)[1]
            out.append((method, path, data, json.loads(comment.strip())))
    return out


def test_http_quick_start_answers_as_the_doc_shows(no_serving, monkeypatch):
    quick_start = blocks("docs/http.md")[0][0]
    ns, _ = run_blocks("docs/http.md", [quick_start])
    monkeypatch.undo()  # serve for real from here
    app = ns["app"]
    expected = curl_lines("docs/http.md")
    assert len(expected) == 2
    with serve(app) as (_, client):
        for method, path, data, answer in expected:
            r = client.request(method, path, content=data)
            assert r.json() == answer, (method, path)
        assert client.get("/ping").text == "pong"
        assert client.post("/users", json={"name": "ada", "age": 36}).json() == {"id": 1}
        assert client.get("/users/1").json() == {"name": "ada", "age": 36, "tags": []}


def test_http_middleware_example_serves_the_admin_group(no_serving, monkeypatch):
    """docs/http.md's middleware example: a plain ``timing`` (from use()) before an
    async ``auth`` on /admin, the mixed chain that used to fail with a 500."""
    first, middleware = (line for line, _ in blocks("docs/http.md")[:2])
    ns, _ = run_blocks("docs/http.md", [first, middleware])
    monkeypatch.undo()
    app, admin = ns["app"], ns["admin"]
    admin.get("/panel", lambda c: {"user": c.get("user")})
    with serve(app) as (_, client):
        r = client.get("/admin/panel")
        assert r.status_code == 401 and r.json() == {"error": "unauthorized"}
        assert r.headers["server-timing"].startswith("app;dur=")
        r = client.get("/admin/panel", headers={"Authorization": "Bearer secret"})
        assert r.status_code == 200 and r.json() == {"user": "ada"}
        assert r.headers["server-timing"].startswith("app;dur=")
        assert client.get("/ping").headers["server-timing"].startswith("app;dur=")
