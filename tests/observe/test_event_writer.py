"""gmp.observe.log.event_writer: the access log's way through structlog.

Laws:
- the line written is the one ``logger.<method>(event, **fields)`` writes, byte for byte,
  for every sink kind gmp configures (batched stderr, a plain stream, print) and for a
  processor chain gmp does not know;
- context bound on the logger and in contextvars comes through, in structlog's order;
- a processor raising ``DropEvent`` drops the line; a level the logger filters out
  writes nothing;
- a logger it cannot take apart (the stdlib bridge) gets the plain call.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
from typing import Any

import pytest
import structlog
from log_helpers import batched_serve_logging, structlogs_own_line, untimed

from gmp.http.cli import configure_logging
from gmp.observe.log import (
    BufferedLineWriter,
    _SoftFlushFile,
    bound_context,
    event_writer,
    get_logger,
)

FIELDS = {"method": "GET", "path": "/p", "status": 200, "ms": 0.5, "request_id": None}


def _fixed_time(_logger: Any, _method: str, event_dict: Any) -> Any:
    event_dict["timestamp"] = "2026-12-06T00:00:00.000Z"
    return event_dict


def _configure(processors: list[Any], factory: Any, level: int = logging.INFO) -> None:
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )


def _json_chain() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _fixed_time,
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(),
    ]


def _both_ways(method: str, fields: dict[str, Any]) -> None:
    """Log once the plain way and once through event_writer, same logger."""
    log = get_logger("gmp.test.access")
    getattr(log.bound(), method)("request", **fields)
    event_writer(log, method, "request")(dict(fields))


@pytest.mark.parametrize("method", ["info", "warning", "error"])
def test_same_line_as_structlog_on_a_stream(method: str) -> None:
    out = io.StringIO()
    _configure(_json_chain(), structlog.WriteLoggerFactory(out))
    structlog.contextvars.bind_contextvars(request_id="ctx-id", tenant="t1")
    _both_ways(method, FIELDS)
    plain, fast = out.getvalue().splitlines()
    assert fast == plain
    line = json.loads(fast)
    assert list(line)[:2] == ["logger", "method"]  # the bound context first, then the fields
    assert line["request_id"] is None  # an explicit field wins over contextvars (setdefault)
    assert line["tenant"] == "t1" and line["level"] == method and line["event"] == "request"


def test_same_line_through_the_batched_sink() -> None:
    out = io.StringIO()
    sink = BufferedLineWriter(out, interval=60)
    _configure(_json_chain(), structlog.WriteLoggerFactory(_SoftFlushFile(sink)))  # type: ignore[arg-type]
    _both_ways("info", FIELDS)
    sink.close()  # flushes, and stops its flusher thread
    plain, fast = out.getvalue().splitlines()
    assert fast == plain


def test_same_line_through_gmp_serve_logging(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info", 0.0)
    # gmp serve's own chain is recognised and run unrolled (the access log's fast path),
    # when its serializer is orjson's (not installable everywhere: 3.13t has no wheel).
    writer = event_writer(get_logger("gmp.test.access"), "info", "request")
    assert writer.__name__ == ("write_json" if importlib.util.find_spec("orjson") else "write")
    _both_ways("info", FIELDS)
    plain, fast = capsys.readouterr().err.splitlines()
    strip = lambda s: {k: v for k, v in json.loads(s).items() if k != "timestamp"}  # noqa: E731
    assert strip(fast) == strip(plain)
    assert list(json.loads(fast)) == list(json.loads(plain))


@pytest.mark.parametrize("bound", [{}, {"request_id": "rid-1"}, {"request_id": "a", "user": "u"}])
def test_gmp_serve_chain_merges_contextvars_as_structlog_does(
    bound: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With structlog's registry of variables holding zero, one (RequestID's) or two
    variables, the unrolled chain's merge writes what merge_contextvars writes: the
    first two read the variable directly, the last takes the real processor."""
    monkeypatch.setattr(structlog.contextvars, "_CONTEXT_VARS", {})
    configure_logging("json", "info", 0.0)
    structlog.contextvars.bind_contextvars(**bound)
    fields = {k: v for k, v in FIELDS.items() if k != "request_id"}
    _both_ways("info", fields)
    structlog.contextvars.unbind_contextvars(*bound)  # set to Ellipsis: merged as absent
    _both_ways("info", fields)
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    for line in lines:
        line.pop("timestamp")
    plain, fast, plain_unbound, fast_unbound = lines
    assert list(fast.items()) == list(plain.items())
    assert {k: fast[k] for k in bound} == bound
    assert list(fast_unbound.items()) == list(plain_unbound.items())
    assert not set(bound) & set(fast_unbound)


def test_a_chain_it_does_not_know_runs_as_structlog_runs_it() -> None:
    out = io.StringIO()

    def upper_event(_l: Any, _m: str, ed: Any) -> Any:
        ed["event"] = ed["event"].upper()
        return ed

    def render(_l: Any, _m: str, ed: Any) -> str:
        return " ".join(f"{k}={ed[k]}" for k in sorted(ed))

    _configure([upper_event, render], structlog.WriteLoggerFactory(out))
    _both_ways("info", FIELDS)
    plain, fast = out.getvalue().splitlines()
    assert fast == plain and "event=REQUEST" in fast


def test_drop_event_and_filtered_levels_write_nothing() -> None:
    out = io.StringIO()

    def drop_pings(_l: Any, _m: str, ed: Any) -> Any:
        if ed.get("path") == "/p":
            raise structlog.DropEvent
        return ed

    _configure([drop_pings, *_json_chain()], structlog.WriteLoggerFactory(out), logging.WARNING)
    log = get_logger("gmp.test.access")
    event_writer(log, "warning", "request")(dict(FIELDS))  # dropped by the processor
    event_writer(log, "info", "request")(dict(FIELDS, path="/q"))  # below the level
    assert out.getvalue() == ""
    event_writer(log, "warning", "request")(dict(FIELDS, path="/q"))
    assert json.loads(out.getvalue())["path"] == "/q"


def test_stdlib_loggers_get_the_plain_call(caplog: pytest.LogCaptureFixture) -> None:
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    with caplog.at_level(logging.INFO, logger="gmp.test.access"):
        event_writer(get_logger("gmp.test.access"), "info", "request")(dict(FIELDS))
    assert [json.loads(r.getMessage())["event"] for r in caplog.records] == ["request"]


def _lines(sink: BufferedLineWriter) -> list[str]:
    sink.flush()
    return [untimed(x) for x in sink._file.getvalue().splitlines()]


@pytest.mark.parametrize(
    "fields",
    [
        FIELDS,
        dict(FIELDS, level="x", extra={"nested": [1, 2.5]}, logger="overridden"),
        dict(FIELDS, odd=object()),  # rendered by repr, as structlog's fallback does
        {**FIELDS, 7: "an int key"},  # orjson's str-only fast path refuses it: the retry
        {**FIELDS, type("Key", (str,), {})("sub"): "a str subclass key"},
    ],
)
@pytest.mark.parametrize("bound", [{}, {"request_id": "rid-1"}])
def test_the_batched_fast_path_writes_structlogs_line(
    fields: dict[Any, Any], bound: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through gmp serve's batched sink (orjson's own newline, str keys without
    OPT_NON_STR_KEYS, contextvars read directly) the line is structlog's, byte for byte
    but the millisecond; context_first gives the same line as the copy."""
    monkeypatch.setattr(structlog.contextvars, "_CONTEXT_VARS", {})
    sink = batched_serve_logging()
    log = get_logger("gmp.test.access")
    structlog.contextvars.bind_contextvars(**bound)
    for _ in range(2):  # the second time with the cached variable
        sink.write(structlogs_own_line(log.bound(), "info", fields) + "\n")
        event_writer(log, "info", "request")(dict(fields))
        assert bound_context(log) == {"logger": "gmp.test.access"}
        event_writer(log, "info", "request", context_first=True)({**bound_context(log), **fields})
    lines = _lines(sink)
    assert len(lines) == 6 and len(set(lines)) == 1, lines


def test_write_line_keeps_order_with_write_and_flushes_when_full() -> None:
    out = io.StringIO()
    sink = BufferedLineWriter(out, interval=3600, max_pending=4)
    sink.write("a\n")
    sink.write_line("b\n")
    sink.write("c\n")
    assert out.getvalue() == ""
    sink.write_line("d\n")  # the fourth line: written inline
    assert out.getvalue() == "a\nb\nc\nd\n"
    sink.write_line("e\n")
    sink.close()
    assert out.getvalue() == "a\nb\nc\nd\ne\n"


def test_a_variable_bound_after_the_first_takes_the_processor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The direct read of structlog's one variable stops once a second one exists."""
    monkeypatch.setattr(structlog.contextvars, "_CONTEXT_VARS", {})
    sink = batched_serve_logging()
    log = get_logger("gmp.test.access")
    write = event_writer(log, "info", "request")
    structlog.contextvars.bind_contextvars(request_id="r")
    write({"a": 1})
    structlog.contextvars.bind_contextvars(user="u")
    write({"a": 1})
    log.bound().info("request", a=1)
    assert (
        len({untimed(structlogs_own_line(log.bound(), "info", {"a": 1})), *_lines(sink)[1:]}) == 1
    )
    first, fast, plain = (json.loads(x) for x in _lines(sink))
    assert first["request_id"] == "r" and "user" not in first
    assert fast == plain and fast["user"] == "u"
