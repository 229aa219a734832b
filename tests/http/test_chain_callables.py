"""Callable objects in a chain: the chain calls them as Python calls them.

A plain chain calls an object whose class defines ``__call__`` through that method bound
to the object (``gmp.http.context._direct``: a call of an instance is not specialized by
CPython 3.11, a bound method's is). Laws held here:

- the method is looked up on the class, as ``obj(c)`` does: an instance attribute named
  ``__call__`` is not what runs;
- a class whose ``__call__`` is not a Python function (a C type, a class used as a
  handler) is called as it is;
- the handler's name (``c.handler_name()``, error messages) names the object's class,
  not a bound method.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from gmp.http import Context, Engine, Middleware, Request
from gmp.http.context import Chain, _direct


def _get(app: Engine, path: str = "/x") -> Any:
    return app(Request("GET", path, client=("127.0.0.1", 1)))


class Tag(Middleware):
    """Records its name on the way in."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, c: Context) -> None:
        c.set("seen", [*c.get("seen", []), self.name])
        c.next()


def test_the_class_method_runs_not_an_instance_attribute() -> None:
    mw = Tag("class")
    mw.__call__ = lambda c: c.set("seen", ["instance"])  # type: ignore[method-assign]
    app = Engine()
    app.use(mw)
    app.get("/x", lambda c: c.string(200, ",".join(c.get("seen"))))
    resp = _get(app)
    assert resp.status == 200
    assert resp.body == b"class"  # as mw(c) would: type(mw).__call__


def test_a_plain_callable_object_and_a_partial_run_as_called() -> None:
    class Counter:
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, c: Context) -> None:
            self.calls += 1
            c.next()

    def handler(c: Context, word: str) -> None:
        c.string(200, word)

    counter = Counter()
    app = Engine()
    app.use(counter)
    app.get("/x", functools.partial(handler, word="partial"))
    assert _get(app).body == b"partial"
    assert _get(app).body == b"partial"
    assert counter.calls == 2


def test_what_the_chain_holds() -> None:
    mw = Tag("a")

    def fn(c: Context) -> None:
        return None

    part = functools.partial(fn)
    assert _direct(fn) is fn
    assert _direct(part) is part  # a C type's __call__: called as it is
    bound = _direct(mw)
    assert bound.__self__ is mw and bound.__func__ is Tag.__call__  # type: ignore[attr-defined]
    chain = Chain([mw, fn], "/x")
    assert chain.name.endswith("fn")
    assert Chain([fn, mw], "/x").name == f"{__name__}.Tag"


def test_the_error_for_a_bad_return_names_the_class() -> None:
    class Returns:
        def __call__(self, c: Context) -> object:
            return object()

    app = Engine()
    app.get("/x", Returns())
    with pytest.raises(TypeError) as err:
        _get(app)
    name = f"{__name__}.test_the_error_for_a_bad_return_names_the_class.<locals>.Returns"
    assert str(err.value).startswith(f"{name} returned object;")
