"""The default Content-Type (Gin's ``writeContentType``): a write sets it only when the
chain set none, whatever the case of the name the chain used.

Law: after any sequence of responses, a response whose chain set ``Content-Type`` (in any
spelling) before writing keeps exactly that field and gets no second one; a response
whose chain set only other fields gets the writer's type. The names already seen as
"not Content-Type" are remembered across requests (``context._NOT_CONTENT_TYPE``), so the
test runs the spellings after other names were seen, and past the memory's bound.
"""

from __future__ import annotations

import pytest

from gmp.http import Context, Engine, Request
from gmp.http import context as ctx_mod
from gmp.http.request import Headers


def _app() -> Engine:
    app = Engine()

    def handler(c: Context) -> None:
        for pair in c.request.headers.get("x-set", "").split(";"):
            if pair:
                name, value = pair.split("=", 1)
                c.header(name, value)
        c.string(200, "ok")

    app.get("/x", handler)
    return app


def _content_types(app: Engine, fields: list[tuple[str, str]]) -> list[str]:
    spec = ";".join(f"{k}={v}" for k, v in fields)
    req = Request("GET", "/x", headers=Headers([("x-set", spec)]), client=("127.0.0.1", 1))
    resp = app(req)
    return [v for k, v in resp.headers if k.lower() == "content-type"]


@pytest.mark.parametrize(
    "spelling", ["Content-Type", "content-type", "CONTENT-TYPE", "cOnTeNt-TyPe"]
)
def test_a_type_set_in_any_case_is_kept_alone(spelling: str) -> None:
    app = _app()
    # Other names first, so they are remembered as not Content-Type.
    assert _content_types(app, [("X-A", "1"), ("X-Request-ID", "r")]) == [
        "text/plain; charset=utf-8"
    ]
    for _ in range(2):  # the second time too: a Content-Type name is never remembered
        got = _content_types(
            app, [("X-A", "2"), (spelling, "application/x-mine"), ("X-Request-ID", "s")]
        )
        assert got == ["application/x-mine"]


def test_past_the_memory_bound_names_are_still_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctx_mod, "_NOT_CONTENT_TYPE", set())
    monkeypatch.setattr(ctx_mod, "_NAMES_MAX", 2)
    app = _app()
    for i in range(5):
        assert _content_types(app, [(f"X-{i}", "v")]) == ["text/plain; charset=utf-8"]
    assert len(ctx_mod._NOT_CONTENT_TYPE) == 2
    assert _content_types(app, [("X-4", "v"), ("Content-type", "a/b")]) == ["a/b"]
