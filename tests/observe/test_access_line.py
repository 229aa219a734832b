"""The access line (Logger, with RequestID before it) through gmp serve's JSON logging.

Law: the line Logger writes by its fast path (its fields built with the logger's context
in front, orjson's own newline, the batched sink) is the line structlog's own call
writes with the same fields, byte for byte but the millisecond; for gmp's logger and for
an application's logger with another bound context.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import structlog
from log_helpers import batched_serve_logging, structlogs_own_line, untimed

from gmp.http import Context, Engine, Logger, Request, RequestID
from gmp.http.request import Headers


def _app(logger: Any) -> Engine:
    app = Engine()
    app.use(RequestID(), Logger(logger, extra=lambda c: {"user": "u1", 3: "int key"}))
    app.get("/ok/:id", lambda c: c.string(200, "fine"))
    app.get("/teapot", lambda c: c.string(418, "short and stout"))

    def boom(c: Context) -> None:
        raise RuntimeError("boom")

    app.get("/boom", boom)
    return app


@pytest.mark.parametrize("context", [None, {}, {"logger": "app.access", "svc": "shop"}])
def test_access_lines_are_structlogs_lines(context: dict[str, Any] | None) -> None:
    sink = batched_serve_logging()
    logger = None
    if context is not None:
        logger = structlog.get_logger("app.access").bind(**context)
    app = _app(logger)
    requests = [
        Request("GET", "/ok/1", client=("10.0.0.1", 5000)),
        Request(
            "GET",
            "/ok/2",
            headers=Headers({"X-Request-ID": "caller-id"}),
            client=("10.0.0.1", 5000),
        ),
        Request("GET", "/teapot"),
        Request("GET", "/missing"),
        Request("GET", "/boom"),
    ]
    for req in requests * 2:  # the second round with the writers built
        with contextlib.suppress(RuntimeError):
            app(req)
    sink.flush()
    lines = sink._file.getvalue().splitlines()
    assert len(lines) == 10
    # The same logger the way structlog's own call would go: gmp's (bound with its
    # name) or the application's.
    own = Logger()._log.bound() if logger is None else logger.bind()
    for line in lines:
        parsed = json.loads(line)
        method = parsed.pop("level")
        parsed.pop("timestamp")
        parsed.pop("event")
        for key in own._context:
            parsed.pop(key, None)
        parsed = {int(k) if k == "3" else k: v for k, v in parsed.items()}
        assert untimed(line) == untimed(structlogs_own_line(own, method, parsed)), line
    first = json.loads(lines[0])
    assert list(first)[: len(own._context) + 1] == [*own._context, "method"]
    assert first["request_id"] and first["user"] == "u1" and first["route"] == "/ok/:id"
    assert json.loads(lines[1])["request_id"] == "caller-id"
    assert [json.loads(x)["level"] for x in lines[2:5]] == ["warning", "warning", "error"]
