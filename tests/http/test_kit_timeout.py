"""Timeout through real HTTP: the 504 at the deadline, the handler's fate afterwards (a
coroutine cancelled, a plain one left to finish and discarded), one response per request,
no leaked G, Recovery and HTTP errors inside, Engine.default(), groups, many at once."""

from __future__ import annotations

import inspect
import json
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from engine_helpers import captured, entries, gmp_threads
from http_server_helpers import Reader, connect, get, running, wait_for

import gmp
from gmp.http import Context, Engine, NotFound, Server
from gmp.http.middleware.timeout import Timeout

# The module shares one server, which checks for leaked threads when it stops.
pytestmark = [pytest.mark.timeout(60), pytest.mark.shared_server]

WAIT = 10.0
LATE = "timed-out handler finished; its result was discarded"
DEADLINE = 0.2  # the timed-out routes' deadline; handlers block on events, not on time


class Gate:
    """What a blocking handler waits on, and what it reports, per test."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.cancelled = threading.Event()
        self.calls = 0


gates: dict[str, Gate] = {}


def gate(name: str) -> Gate:
    g = gates[name] = Gate()
    return g


async def outer(c: Context) -> None:
    """Outside the Timeout: reports what the timed chain left in the Context."""
    await c.next()
    c.header("x-outer-saw", str(c.get("inner")))
    c.header("x-outer-status", str(c.status_code))


def fast_plain(c: Context) -> None:
    c.set("inner", "plain")
    c.header("x-inner", "1")
    c.json(201, {"fast": "plain", "id": c.param("id")})


async def fast_async(c: Context) -> dict[str, Any]:
    c.set("inner", "async")
    c.header("x-inner", "1")
    await gmp.sleep(0)
    c.status(202)
    return {"fast": "async"}


def blocking(c: Context) -> dict[str, Any]:
    g = gates[c.query("gate") or ""]
    g.calls += 1
    g.entered.set()
    g.release.wait(WAIT)
    c.header("x-late", "1")
    g.finished.set()
    if c.query("then") == "raise":
        raise RuntimeError("raised after the deadline")
    return {"late": True}


async def sleeping(c: Context) -> str:
    g = gates[c.query("gate") or ""]
    g.entered.set()
    try:
        await gmp.sleep(30)
    except gmp.Cancelled:
        g.cancelled.set()
        raise
    g.finished.set()
    return "not cancelled"


def boom(c: Context) -> None:
    raise RuntimeError("boom inside the deadline")


async def aboom(c: Context) -> None:
    await gmp.sleep(0)
    raise RuntimeError("boom inside the deadline")


def missing(c: Context) -> None:
    raise NotFound("no such thing")


async def teapot(c: Context) -> None:
    await gmp.sleep(0)
    c.fail(418, "short and stout")


def aborting(c: Context) -> None:
    c.abort_with_status_json(409, {"aborted": True})


def after_abort(c: Context) -> None:
    raise AssertionError("the chain went on after abort()")


def build() -> Engine:
    app = Engine.default()
    app.get("/fast/:id", outer, Timeout(5), fast_plain)
    app.get("/afast", outer, Timeout(5), fast_async)
    app.get("/block", outer, Timeout(DEADLINE), blocking)
    app.get("/sleep", Timeout(DEADLINE), sleeping)
    app.get("/boom", Timeout(5), boom)
    app.get("/aboom", Timeout(5), aboom)
    app.get("/missing", Timeout(5), missing)
    app.get("/teapot", Timeout(5), teapot)
    app.get("/abort", outer, Timeout(5), aborting, after_abort)
    app.get("/custom", Timeout(DEADLINE, status=503, detail="too slow"), sleeping)
    api = app.group("/api", Timeout(DEADLINE))
    api.get("/sleep", sleeping)
    api.get("/ok", lambda c: {"group": "ok"})
    return app


app = build()
MANY_PLAIN = Timeout(DEADLINE)
MANY_ASYNC = Timeout(DEADLINE)
app.get("/many/plain", MANY_PLAIN, blocking)
app.get("/many/async", MANY_ASYNC, sleeping)
QUICK = Timeout(5)
app.get("/quick", QUICK, fast_plain)


class Served:
    """The module's server and an httpx client for it."""

    def __init__(self, server: Server, http: httpx.Client) -> None:
        self.server = server
        self.http = http

    def gs_alive(self) -> int:
        rt = self.server.runtime
        assert rt is not None
        return rt.stats().gs_alive

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One server for the module; its threads must all be gone once it stopped."""
    before = gmp_threads()
    with (
        running(app, procs=2) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=WAIT) as http,
    ):
        yield Served(server, http)
    wait_for(lambda: not (gmp_threads() - before), what="the server's threads to stop")


@pytest.fixture
def client(served: Served) -> httpx.Client:
    return served.http


# -- passing through -------------------------------------------------------------------


def test_fast_plain_handler_passes_unchanged(client):
    r = client.get("/fast/7")
    assert r.status_code == 201
    assert r.json() == {"fast": "plain", "id": "7"}
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-inner"] == "1"
    assert r.headers["x-outer-saw"] == "plain"  # a key set inside, seen outside
    assert r.headers["x-outer-status"] == "201"
    assert r.headers["x-request-id"]  # set before the fork, kept


def test_fast_async_handler_passes_unchanged(client):
    r = client.get("/afast")
    assert r.status_code == 202
    assert r.json() == {"fast": "async"}
    assert r.headers["x-inner"] == "1"
    assert r.headers["x-outer-saw"] == "async"
    assert r.headers["x-outer-status"] == "202"


def test_abort_inside_stops_the_chain(client):
    r = client.get("/abort")
    assert r.status_code == 409
    assert r.json() == {"aborted": True}
    assert r.headers["x-outer-status"] == "409"


# -- past the deadline -----------------------------------------------------------------


def test_plain_handler_past_deadline_gets_504_first_and_is_discarded(served):
    base = served.gs_alive()
    g = gate("plain")
    sock = connect(served.server, timeout=WAIT)
    reader = Reader(sock)
    try:
        with captured() as logs:
            sock.sendall(get("/block?gate=plain"))
            r = reader.read()
            # The handler is still parked on g.release, which only we set, below.
            assert not g.finished.is_set()
            assert g.entered.is_set()
            assert r.status == 504
            assert json.loads(r.body) == {"error": "the handler did not finish within 0.2 s"}
            assert r.header("content-type") == "application/json"
            assert r.header("x-late") is None  # the late handler's writes never reach it
            # Outer after-code runs when the handler ends, too late for the wire.
            assert r.header("x-outer-status") is None
            rid = r.header("x-request-id")
            assert rid
            g.release.set()
            assert g.finished.wait(WAIT)
            wait_for(lambda: entries(logs, LATE), what="the late-finish log line")
            wait_for(lambda: entries(logs, "request", path="/block"), what="the access line")
        (late,) = entries(logs, LATE)
        assert late["log_level"] == "info"
        assert late["route"] == "/block"
        # The access log (outside the Timeout) records what the client got.
        (access,) = entries(logs, "request", path="/block")
        assert access["status"] == 504
        assert late["request_id"] == rid
        # /block's chain is async (``outer``), so the plain handler ran through
        # gmp.syscall, whose return is a checkpoint: the abandoned G was cancelled there.
        assert late["error"] is None or late["error"].startswith("Cancelled(")
        assert late["ms_late"] >= 0
        (warned,) = entries(logs, "request timed out")
        assert warned["log_level"] == "warning"
        assert warned["request_id"] == rid
        # Read off the request's Context when the deadline passed (Timeout's _Deadline).
        assert (warned["method"], warned["path"], warned["route"]) == ("GET", "/block", "/block")
        assert warned["timeout_s"] == DEADLINE
        # One response for that request: the next one on the connection is answered
        # with its own response, and nothing else is buffered.
        sock.sendall(get("/fast/8"))
        r2 = reader.read()
        assert r2.status == 201
        assert json.loads(r2.body) == {"fast": "plain", "id": "8"}
        assert reader.buf == b""
        assert g.calls == 1
    finally:
        g.release.set()
        sock.close()
    wait_for(lambda: served.gs_alive() == base, what="the child G to end")


def test_late_exception_is_logged_once_not_raised(served):
    """A plain handler that raises after its deadline: its exception goes into the info
    line; the child G does not die with it (nobody would ever join it)."""
    import gc

    base = served.gs_alive()
    g = gate("late-raise")
    with captured() as logs:
        r = served.get("/block?gate=late-raise&then=raise")
        assert r.status_code == 504
        assert not g.finished.is_set()
        g.release.set()
        wait_for(lambda: entries(logs, LATE), what="the late-finish log line")
        wait_for(lambda: served.gs_alive() == base, what="the child G to end")
        gc.collect()
    (late,) = entries(logs, LATE)
    # The handler raised after its deadline; the syscall's return (a checkpoint) may
    # have turned that into the abandoned G's cancellation first. Either is logged here.
    assert late["error"] in (
        "RuntimeError('raised after the deadline')",
        "Cancelled('cancelled by <gmp.CancelScope cancelled deadline=inf>')",
    )
    assert not entries(logs, "G failed and nobody joined it")
    assert not entries(logs, "handler raised; answered 500")


def test_coroutine_handler_cancelled_at_its_checkpoint_and_no_g_leaks(served):
    base = served.gs_alive()
    g = gate("coro")
    with captured() as logs:
        r = served.get("/sleep?gate=coro")  # the handler sleeps 30 s; the client waits 10
        assert r.status_code == 504
        assert g.entered.is_set()
        assert g.cancelled.wait(WAIT)  # gmp.Cancelled at its gmp.sleep
        wait_for(lambda: served.gs_alive() == base, what="the Gs to end")
    assert not g.finished.is_set()
    assert r.headers["x-request-id"]
    (access,) = entries(logs, "request", path="/sleep")
    assert access["status"] == 504
    assert access["log_level"] == "error"
    assert access["request_id"] == r.headers["x-request-id"]
    assert not entries(logs, "handler raised; answered 500")


def test_status_and_detail_can_be_changed(served):
    g = gate("custom")
    r = served.get("/custom?gate=custom")
    assert r.status_code == 503
    assert r.json() == {"error": "too slow"}
    assert g.cancelled.wait(WAIT)


def test_group_level_timeout(served):
    g = gate("group")
    r = served.get("/api/sleep?gate=group")
    assert r.status_code == 504
    assert g.cancelled.wait(WAIT)
    r = served.get("/api/ok")
    assert r.status_code == 200
    assert r.json() == {"group": "ok"}


# -- errors inside the deadline --------------------------------------------------------


@pytest.mark.parametrize("path", ["/boom", "/aboom"])
def test_exception_inside_reaches_recovery(served, path):
    with captured() as logs:
        r = served.get(path)
    assert r.status_code == 500
    rid = r.headers["x-request-id"]
    assert r.json() == {"error": "internal server error", "request_id": rid}
    (err,) = entries(logs, "handler raised; answered 500")
    assert err["route"] == path
    assert not entries(logs, "request timed out")


def test_http_error_inside_keeps_its_status(served):
    r = served.get("/missing")
    assert r.status_code == 404
    assert r.json() == {"error": "no such thing"}
    r = served.get("/teapot")
    assert r.status_code == 418
    assert r.json() == {"error": "short and stout"}


# -- many at once ----------------------------------------------------------------------


def test_many_concurrent_timeouts_each_get_exactly_one_504(served):
    n = 50
    base = served.gs_alive()
    plain = gate("many")
    gates["many-async"] = Gate()
    barrier = threading.Barrier(n)
    before_plain, before_async = MANY_PLAIN.expired, MANY_ASYNC.expired

    def one(i: int) -> tuple[int, bytes, int, bytes]:
        path = "/many/plain?gate=many" if i % 2 else "/many/async?gate=many-async"
        sock = connect(served.server, timeout=WAIT)
        try:
            reader = Reader(sock)
            barrier.wait(WAIT)
            sock.sendall(get(path))
            first = reader.read()
            sock.sendall(get(f"/fast/{i}"))
            second = reader.read()
            assert reader.buf == b""
            return first.status, first.body, second.status, second.body
        finally:
            sock.close()

    try:
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(one, range(n)))
        assert not plain.finished.is_set()
    finally:
        plain.release.set()
    for i, (s1, b1, s2, b2) in enumerate(results):
        assert s1 == 504
        assert json.loads(b1) == {"error": "the handler did not finish within 0.2 s"}
        assert s2 == 201
        assert json.loads(b2) == {"fast": "plain", "id": str(i)}
    assert MANY_PLAIN.expired - before_plain == n // 2
    assert MANY_ASYNC.expired - before_async == n // 2
    wait_for(lambda: served.gs_alive() == base, timeout=WAIT, what="every child G to end")


# -- arguments -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, math.inf, math.nan, -math.inf])
def test_bad_seconds_raise_value_error(bad):
    with pytest.raises(ValueError, match="positive and finite"):
        Timeout(bad)


@pytest.mark.parametrize("bad", ["1", None, True, [1]])
def test_non_numbers_raise_type_error(bad):
    with pytest.raises(TypeError, match="needs a number"):
        Timeout(bad)


@pytest.mark.parametrize("status", [200, 302, 600, 399])
def test_status_must_be_an_error(status):
    with pytest.raises(ValueError, match="error status"):
        Timeout(1, status=status)


def test_repr_and_counter():
    t = Timeout(2)
    assert repr(t) == "Timeout(2)"
    assert t.expired == 0
    assert t.seconds == 2.0


# -- cancel() racing a scope's entry (gmp/cancel.py) --------------------------------------


def test_cancel_racing_the_scope_entry_wakes_the_g():
    """cancel() finds the scope not entered and, at the moment it records the
    cancellation, a G tries to enter it and sleep. The entry waits for cancel() (the
    scope's entry lock), then the G's first checkpoint raises: it never sleeps its 30 s.
    Forced with a line trace on the write inside cancel()."""
    import sys

    from gmp._core import g as gcore
    from gmp.cancel import CancelScope

    code = CancelScope.cancel.__code__
    lines, first = inspect.getsourcelines(CancelScope.cancel)
    unentered_write = first + next(
        i for i, line in enumerate(lines) if "self.cancel_called = True" in line
    )
    scope = gmp.CancelScope()

    async def sleeper() -> str:
        with scope:
            await gmp.sleep(30)
        return "cancelled" if scope.cancelled_caught else "slept"

    rt = gmp.Runtime(1)
    try:
        started: list[Any] = []

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "line" and frame.f_lineno == unentered_write and not started:
                # cancel() has read _rt (None); the G now races to enter and park. Give
                # it the chance: without the entry lock it parks inside the scope before
                # cancel() records anything; with it, it waits for cancel() to finish.
                g = rt.go(sleeper)
                started.append(g)
                deadline = time.monotonic() + 0.5
                while g.status is not gcore.WAITING and time.monotonic() < deadline:
                    time.sleep(0.001)
            return local

        def tracer(frame: Any, event: str, arg: Any) -> Any:
            return local if frame.f_code is code else None

        sys.settrace(tracer)
        try:
            scope.cancel()
        finally:
            sys.settrace(None)
        (g,) = started
        assert g.result(timeout=10.0) == "cancelled"
    finally:
        rt.close(timeout=0)


# -- a plain chain, and an Engine called without a server -------------------------------


def test_plain_chain_late_exception_is_logged_as_itself(served):
    """/many/plain is a plain chain (Timeout + a def handler): no checkpoint on the way
    out, so the handler's own exception is what the late-finish line names."""
    g = gate("plain-raise")
    with captured() as logs:
        r = served.get("/many/plain?gate=plain-raise&then=raise")
        assert r.status_code == 504
        g.release.set()
        wait_for(lambda: entries(logs, LATE), what="the late-finish log line")
    (late,) = entries(logs, LATE)
    assert late["error"] == "RuntimeError('raised after the deadline')"


def test_without_a_server_a_late_plain_result_is_replaced():
    from gmp.http import Request

    app = Engine()
    release = threading.Event()

    def slow(c: Context) -> str:
        release.wait(0.3)  # nobody sets it: the handler overruns its 0.05 s
        return "late"

    app.get("/slow", Timeout(0.05), slow)
    app.get("/quick", Timeout(5), lambda c: "quick")
    resp = app(Request("GET", "/slow"))
    assert resp.status == 504
    assert json.loads(resp.body) == {"error": "the handler did not finish within 0.05 s"}
    assert app(Request("GET", "/quick")).body == b"quick"


def test_without_a_server_a_coroutine_is_cancelled_at_the_deadline():
    from gmp.http import Request

    app = Engine()
    cancelled = threading.Event()

    async def sleepy(c: Context) -> str:
        try:
            await gmp.sleep(30)
        except gmp.Cancelled:
            cancelled.set()
            raise
        return "slept"

    app.get("/sleepy", Timeout(0.05), sleepy)

    async def main() -> Any:
        return await app(Request("GET", "/sleepy"))

    resp = gmp.run(main, procs=1)
    assert resp.status == 504
    assert cancelled.is_set()


def test_only_requests_in_flight_are_watched(served, client, monkeypatch):
    """A Timeout holds a deadline only while its request runs, and one runtime timer
    stands for all of them: a thousand requests leave nothing behind in the watch, and
    arm a timer per 5 s at most (each used to arm its own, left cancelled in its P's
    heap until a sweep). Only the Timeout's own timers are counted: the server's
    reaper arms one per scan (every 0.5 s at most), and on a slow interpreter (3.13t) a
    count of all the runtime's timers took that for the Timeout's."""
    from gmp.http.middleware.timeout import _Watch

    arms: list[float] = []
    arm = _Watch._arm

    def counted(watch: _Watch, when: float) -> None:
        arms.append(when)
        arm(watch, when)

    monkeypatch.setattr(_Watch, "_arm", counted)
    assert client.get("/quick").status_code == 201
    before = len(arms)
    t0 = time.monotonic()
    for _ in range(1000):
        assert client.get("/quick").status_code == 201
    elapsed = time.monotonic() - t0
    watch = QUICK._last[1]
    assert not watch.inflight
    # One timer per 5 s at most (it re-arms only when it fires), and one more for a
    # sweep due just as the loop began.
    assert len(arms) - before <= 2 + int(elapsed // 5), (len(arms) - before, elapsed)
