"""Registration forms: Gin's positional form and decorators, with and without route
middleware; what each registers is observable through the engine's chain."""

from __future__ import annotations

from typing import Any

import pytest

from gmp.http import Context, Engine, Request


def _call(app: Engine, path: str) -> tuple[int, bytes]:
    resp = app(Request("GET", path))
    return resp.status, resp.body


def _tag(name: str, seen: list[str]):  # type: ignore[no-untyped-def]
    def mw(c: Context) -> None:
        seen.append(name)
        c.next()

    mw.__name__ = name
    return mw


def test_positional_form_registers_middleware_then_handler() -> None:
    seen: list[str] = []
    app = Engine()

    def handler(c: Context) -> None:
        seen.append("handler")
        c.string(200, "ok")

    app.get("/p", _tag("a", seen), _tag("b", seen), handler)
    assert _call(app, "/p") == (200, b"ok")
    assert seen == ["a", "b", "handler"]


def test_decorator_with_positional_middleware_makes_the_function_the_handler() -> None:
    seen: list[str] = []
    app = Engine()

    @app.get("/d", _tag("auth", seen))
    def handler(c: Context) -> None:
        seen.append("handler")
        c.string(200, "decorated")

    assert handler.__name__ == "handler"  # the decorator returns the function itself
    assert _call(app, "/d") == (200, b"decorated")
    assert seen == ["auth", "handler"]
    assert app.routes() == [("GET", "/d", f"{__name__}.{handler.__qualname__}")]


def test_decorator_with_middleware_keyword() -> None:
    seen: list[str] = []
    app = Engine()

    @app.post("/k", middleware=[_tag("m", seen)])
    def handler(c: Context) -> None:
        seen.append("handler")
        c.status(204)

    resp = app(Request("POST", "/k"))
    assert resp.status == 204
    assert seen == ["m", "handler"]


def test_both_forms_at_once_is_an_error() -> None:
    app = Engine()
    with pytest.raises(TypeError, match="not both"):
        app.get("/x", lambda c: None, middleware=[lambda c: None])


def test_decorating_after_serving_started_takes_effect() -> None:
    app = Engine()
    pending = app.get("/late", lambda c: c.set("mw", True))
    app.freeze()
    pending(lambda c: {"mw": c.get("mw")})
    assert app(Request("GET", "/late")).body == b'{"mw":true}'


def test_first_requests_on_many_threads_compile_once_and_all_succeed() -> None:
    import threading

    app = Engine()
    seen: list[int] = []
    for i in range(50):
        app.get(f"/r{i}", lambda c, i=i: c.string(200, str(i)))
    compiled: list[int] = []
    original = app._compile

    def counting() -> Any:
        compiled.append(1)
        return original()

    app._compile = counting  # type: ignore[method-assign]
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def hit() -> None:
        start.wait(10)
        try:
            for i in range(50):
                resp = app(Request("GET", f"/r{i}"))
                assert resp.status == 200 and resp.body == str(i).encode()
                seen.append(i)
        except BaseException as e:  # reported below, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(seen) == 8 * 50
    assert compiled == [1]  # compiled once, by whichever thread came first
