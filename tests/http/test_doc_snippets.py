"""Every Python example of README.md and docs/*.md runs, and does what the text says.

The blocks of a document run in order in one namespace, as a reader would run them;
``app.run()`` is replaced by a recorder (the examples are served by the tests instead).
The quick start's curl lines are replayed against it and compared with the answers the
doc prints, and the middleware example is served to show the mixed chain working.
The examples of docs/resilience.md, docs/observability.md and the production kit of
README.md and docs/http.md are served and checked in ``test_doc_*.py``.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest
from doc_snippets import DOCS, ROOT, SKIP, blocks, run_blocks
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


@pytest.mark.parametrize("doc", DOCS)
def test_every_python_block_runs(doc, no_serving):
    assert blocks(doc), f"{doc} has no python blocks"
    run_blocks(doc)


def test_every_page_with_python_examples_is_run():
    """A page of docs/ (or the README) with a python block is in DOCS, so its examples
    are run here and type-checked by make lint; a skipped block is the marked exception."""
    pages = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
    fence = re.compile(r"^```python\s*$", re.MULTILINE)
    with_python = [p for p in pages if fence.search((ROOT / p).read_text(encoding="utf-8"))]
    assert with_python, "no page has python examples"
    assert sorted(set(with_python) - set(DOCS)) == []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert len(blocks(doc)) == len(fence.findall(text)) - text.count(SKIP + "\n```python")


def test_install_hints_name_the_distribution():
    """``gmp`` on the package index is another project: every ``pip install`` line and
    extra named in the docs and in gmp's messages says ``gmp-runtime[...]``."""
    wrong = re.compile(r"(?<![\w-])gmp\[|pip install gmp(?![\w-])")
    found = []
    for pattern in ("*.md", "docs/*.md", "bench/**/*.md", "gmp/**/*.py", "sims/**/*.py"):
        for path in sorted(ROOT.glob(pattern)):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if wrong.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == []


def test_simulator_example_is_reproducible():
    """docs/simulator.md: the skewed workload runs in virtual time, steals work, and the
    same seed gives the same numbers."""
    _, first = run_blocks("docs/simulator.md")
    _, again = run_blocks("docs/simulator.md")
    assert first == again
    makespan, p99, steals, jain = first.split()
    assert float(makespan) > 0 and 0 < float(p99) < float(makespan)
    assert int(steals) > 0  # skew leaves Ps idle that then steal
    assert 0 < float(jain) <= 1


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
