"""The built-in middleware through real HTTP: Logger, Recovery, RequestID, and
Engine.default() end to end (also under `gmp serve` in a subprocess)."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from engine_helpers import captured, entries, serving
from test_http_process import serve

import gmp
from gmp.http import ClientDisconnected, Context, Engine, Logger, Recovery, RequestID

# The module shares one server, which checks for leaked threads when it stops.
pytestmark = [pytest.mark.timeout(90), pytest.mark.shared_server]

HEX24 = re.compile(r"[0-9a-f]{24}").fullmatch


def _boom(c: Context) -> None:
    raise RuntimeError("secret-token-123 leaked?")


async def _aboom(c: Context) -> None:
    raise RuntimeError("secret-token-123 leaked?")


def _gone(c: Context) -> None:
    raise ClientDisconnected("the client connection is gone")


def _cancelled(c: Context) -> None:
    raise gmp.Cancelled()


async def cancel_scope(c: Context) -> None:
    """Runs the rest of the chain in a cancel scope the handler may cancel."""
    with gmp.CancelScope() as scope:
        c.set("scope", scope)
        await c.next()
    if scope.cancelled_caught:
        c.json(503, {"cancelled": True})


async def _cancel_me(c: Context) -> str:
    c.get("scope").cancel()
    await gmp.sleep(0)  # a checkpoint: Cancelled is raised here
    return "not cancelled"


def build_default() -> Engine:
    app = Engine.default()
    app.get("/ok/:id", lambda c: {"id": c.param("id")})
    app.get("/health", lambda c: "ok")
    app.get("/created", lambda c: c.json(201, {}))
    app.get("/teapot", lambda c: c.fail(418, "short and stout"))
    app.get("/redirect", lambda c: c.redirect(302, "/ok/1"))
    app.get("/boom", _boom)
    app.get("/aboom", _aboom)
    app.get("/gone", _gone)
    app.get("/cancel", cancel_scope, _cancel_me)
    return app


def build_bare() -> Engine:
    """Logger without Recovery, and Recovery with its own handler."""
    app = Engine()
    app.use(RequestID(), Logger(skip_paths=["/skipped"], extra=lambda c: {"extra": "x"}))
    app.get("/raise", _boom)
    app.get("/araise", _aboom)
    app.get("/skipped", lambda c: "quiet")
    app.get("/plain_cancel", Recovery(), _cancelled)

    def custom(c: Context, exc: BaseException) -> None:
        c.string(500, f"custom: {type(exc).__name__}")

    app.get("/custom", Recovery(handler=custom), _boom)
    return app


@pytest.fixture(scope="module")
def default() -> Iterator[httpx.Client]:
    with serving(build_default()) as c:
        yield c


@pytest.fixture(scope="module")
def bare() -> Iterator[httpx.Client]:
    with serving(build_bare()) as c:
        yield c


def access(logs: list[dict[str, Any]], path: str) -> dict[str, Any]:
    (line,) = entries(logs, "request", path=path)
    return line


# -- Logger ---------------------------------------------------------------------------


def test_logger_fields(default):
    with captured() as logs:
        r = default.get("/ok/42?x=1", headers={"X-Request-ID": "req-1"})
    assert r.status_code == 200
    line = access(logs, "/ok/42")
    assert line["logger"] == "gmp.http.access"
    assert line["log_level"] == "info"
    assert line["method"] == "GET"
    assert line["route"] == "/ok/:id"
    assert line["status"] == 200
    assert isinstance(line["ms"], float) and line["ms"] >= 0
    assert line["client"] == "127.0.0.1"
    assert line["request_id"] == "req-1"
    assert "error" not in line


@pytest.mark.parametrize(
    ("path", "status", "level"),
    [
        ("/created", 201, "info"),
        ("/redirect", 302, "info"),
        ("/teapot", 418, "warning"),
        ("/nowhere", 404, "warning"),
        ("/boom", 500, "error"),
    ],
)
def test_logger_level_follows_the_status(default, path, status, level):
    with captured() as logs:
        assert default.get(path).status_code == status
    line = access(logs, path)
    assert (line["status"], line["log_level"]) == (status, level)
    if path == "/nowhere":
        assert line["route"] == ""  # a miss has no pattern


def test_logger_skip_paths_and_extra(bare):
    with captured() as logs:
        assert bare.get("/skipped").text == "quiet"
        assert bare.get("/skipped/").status_code == 301
    assert entries(logs, "request", path="/skipped") == []
    assert access(logs, "/skipped/")["extra"] == "x"


@pytest.mark.parametrize("path", ["/raise", "/araise"])
def test_logger_without_recovery_logs_a_500_and_the_client_gets_a_500(bare, path):
    with captured() as logs:
        r = bare.get(path)
    assert r.status_code == 500
    assert b"secret-token-123" not in r.content
    line = access(logs, path)
    assert line["status"] == 500 and line["log_level"] == "error"
    assert "RuntimeError" in line["error"]
    assert HEX24(line["request_id"])
    # the server itself reported the failure, with the traceback
    (failed,) = entries(logs, "handler failed", path=path)
    assert isinstance(failed["exc_info"][1], RuntimeError)


# -- Recovery -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/boom", "/aboom"])
def test_recovery_answers_500_json_with_request_id_and_logs_the_traceback(default, path):
    with captured() as logs:
        r = default.get(path, headers={"X-Request-ID": "trace-me"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"error": "internal server error", "request_id": "trace-me"}
    assert b"secret" not in r.content and b"RuntimeError" not in r.content
    (line,) = entries(logs, "handler raised; answered 500", path=path)
    assert line["logger"] == "gmp.http.recovery" and line["log_level"] == "error"
    assert line["request_id"] == "trace-me"
    assert line["route"] == path and line["method"] == "GET"
    exc = line["exc_info"][1]
    assert isinstance(exc, RuntimeError) and "secret-token-123" in str(exc)
    assert exc.__traceback__ is not None
    assert access(logs, path)["status"] == 500


def test_recovery_custom_handler(bare):
    r = bare.get("/custom")
    assert (r.status_code, r.text) == (500, "custom: RuntimeError")


def test_client_disconnected_is_not_a_500_and_is_logged_at_info(default):
    with captured() as logs:
        r = default.get("/gone", headers={"X-Request-ID": "gone-1"})
    assert r.status_code == 499
    (line,) = entries(logs, "client went away", path="/gone")
    assert line["log_level"] == "info" and line["request_id"] == "gone-1"
    assert entries(logs, "handler raised; answered 500") == []
    assert access(logs, "/gone")["status"] == 499


def test_cancelled_passes_through_recovery_to_the_scope_that_asked(default):
    with captured() as logs:
        r = default.get("/cancel")
    assert (r.status_code, r.json()) == (503, {"cancelled": True})
    assert entries(logs, "handler raised; answered 500") == []
    assert access(logs, "/cancel")["status"] == 503


def test_cancelled_in_a_plain_chain_passes_recovery_and_the_server_survives(bare):
    with captured() as logs:
        r = bare.get("/plain_cancel")
        # no scope caught it: the server reports the dead G as a failed handler
        assert (r.status_code, r.text) == (500, "internal server error\n")
        assert bare.get("/skipped").text == "quiet"  # the server is still serving
    assert entries(logs, "handler raised; answered 500") == []
    assert access(logs, "/plain_cancel")["error"] == "Cancelled()"
    (failed,) = entries(logs, "handler failed", path="/plain_cancel")
    assert isinstance(failed["exc_info"][1], gmp.Cancelled)


# -- RequestID ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("abc-123", True),
        ("a" * 128, True),
        ("~!#$%&'*+.^_`|", True),
        ("a" * 129, False),
        ("has space", False),
        ("tab\there", False),
        ("", False),
        ("caf\u00e9", False),
    ],
)
def test_request_id_keeps_a_valid_incoming_id_and_replaces_an_invalid_one(default, incoming, kept):
    r = default.get("/ok/1", headers={"X-Request-ID": incoming.encode("latin-1")})
    got = r.headers["x-request-id"]
    if kept:
        assert got == incoming
    else:
        assert HEX24(got), got


def test_request_ids_are_new_per_request(default):
    ids = {default.get("/ok/1").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5 and all(HEX24(i) for i in ids)


def test_request_id_untrusted_incoming_and_custom_header():
    app = Engine()
    app.use(RequestID("X-Trace", trust_incoming=False))
    app.get("/", lambda c: {"rid": c.get("request_id")})
    with serving(app) as client:
        r = client.get("/", headers={"X-Trace": "client-chosen"})
        assert r.headers["x-trace"] != "client-chosen" and HEX24(r.headers["x-trace"])
        assert r.json() == {"rid": r.headers["x-trace"]}
        assert "x-request-id" not in r.headers


# -- Engine.default() and gmp serve --------------------------------------------------------


def test_engine_default_end_to_end(default):
    with captured() as logs:
        r = default.get("/ok/7")
        assert r.json() == {"id": "7"}
        rid = r.headers["x-request-id"]
        miss = default.get("/missing")
    assert HEX24(rid)
    assert access(logs, "/ok/7")["request_id"] == rid
    assert miss.status_code == 404 and HEX24(miss.headers["x-request-id"])
    assert access(logs, "/missing")["request_id"] == miss.headers["x-request-id"]


def test_gmp_serve_runs_an_engine_app():
    with serve("--procs", "1", app="engine_helpers:app") as proc:
        base = f"http://127.0.0.1:{proc.port}"
        r = httpx.get(f"{base}/hello/ann", headers={"X-Request-ID": "sub-1"}, timeout=10)
        assert r.json() == {"hello": "ann", "request_id": "sub-1"}
        assert r.headers["x-request-id"] == "sub-1"
        r = httpx.post(f"{base}/items", json={"a": 1}, timeout=10)
        assert (r.status_code, r.json()) == (201, {"created": {"a": 1}})
        assert httpx.get(f"{base}/nope", timeout=10).status_code == 404

        def logged() -> list[dict[str, object]]:
            return [x for x in proc.lines if x.get("logger") == "gmp.http.access"]

        from http_server_helpers import wait_for

        wait_for(lambda: len(logged()) >= 3, what="three access log lines")
        hello = next(x for x in logged() if x.get("path") == "/hello/ann")
        assert hello["route"] == "/hello/:name" and hello["request_id"] == "sub-1"
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(20) == 0
