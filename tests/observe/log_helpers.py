"""Helpers shared by the access-log tests (test_event_writer, test_access_line): gmp
serve's batched JSON logging, structlog's own rendering of a line, and lines compared
without their timestamps (two ways of writing may stamp different milliseconds)."""

from __future__ import annotations

import io
import re
import sys
from typing import Any

import structlog

from gmp.http.cli import configure_logging
from gmp.observe.log import BufferedLineWriter


def batched_serve_logging() -> BufferedLineWriter:
    """gmp serve --log-format json (a long flush interval): the access log's fast path,
    writing to a StringIO sink the test flushes."""
    saved = sys.stderr
    sys.stderr = io.StringIO()
    try:
        configure_logging("json", "info", 60.0)
    finally:
        sys.stderr = saved
    sink = structlog.get_config()["logger_factory"]._file._sink
    assert isinstance(sink, BufferedLineWriter)
    return sink


def structlogs_own_line(bound: Any, method: str, fields: dict[Any, Any]) -> str:
    """What ``bound.<method>("request", **fields)`` renders, for fields a call cannot take
    as keywords too (an int key): BoundLoggerBase._process_event's own steps."""
    event_dict = bound._context.copy()
    event_dict.update(fields)
    event_dict["event"] = "request"
    for proc in bound._processors:
        event_dict = proc(bound._logger, method, event_dict)
    assert isinstance(event_dict, str)
    return event_dict


_STAMP = re.compile(r'("timestamp": ?")[^"]*"')


def untimed(line: str) -> str:
    """The line without its timestamp (orjson's compact separators or the stdlib's)."""
    return _STAMP.sub(r'\1"', line)
