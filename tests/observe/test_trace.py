"""W3C Trace Context parsing and formatting, and the current span in logs, Gs and trio."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import LogCapture

import gmp
from gmp.observe.trace import (
    SpanContext,
    child_of,
    current_context,
    current_span,
    extract,
    format_traceparent,
    new_span_id,
    new_trace,
    new_trace_id,
    on_span_end,
    parse_traceparent,
    parse_tracestate,
    start_span,
)

# The spec's examples (https://www.w3.org/TR/trace-context/#examples-of-http-traceparent-headers)
EXAMPLE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_spec_example() -> None:
    ctx = parse_traceparent(EXAMPLE)
    assert ctx == SpanContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", None, 1)
    assert ctx.sampled and format_traceparent(ctx) == EXAMPLE
    unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
    assert unsampled is not None and not unsampled.sampled


@pytest.mark.parametrize(
    "value",
    [
        "",
        "00",
        EXAMPLE.upper(),
        EXAMPLE.replace("4bf9", "4BF9"),
        EXAMPLE + "-",  # version 00 must be exactly 55 characters
        EXAMPLE + "0",
        "ff" + EXAMPLE[2:],
        "0g" + EXAMPLE[2:],
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        " " + EXAMPLE[:-1],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  # no dash after
        "00-\uff14bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # a fullwidth 4
    ],
)
def test_invalid_headers_parse_to_none(value: str) -> None:
    assert parse_traceparent(value) is None


def test_higher_versions_are_read_by_their_first_four_fields() -> None:
    ctx = parse_traceparent("cc" + EXAMPLE[2:] + "-what-the-future-holds")
    assert ctx is not None and ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert format_traceparent(ctx) == EXAMPLE  # sent on as version 00
    assert parse_traceparent("cc" + EXAMPLE[2:]) is not None


def test_wrong_types_and_bytes() -> None:
    assert parse_traceparent(None) is None
    assert parse_traceparent(42) is None  # type: ignore[arg-type]
    assert parse_traceparent(EXAMPLE.encode()) == parse_traceparent(EXAMPLE)
    assert parse_traceparent(b"\xff" * 55) is None


HEX = "0123456789abcdef"
hex_id = lambda n: st.text(HEX, min_size=n, max_size=n).filter(lambda s: s.strip("0"))  # noqa: E731
valid = st.builds(
    lambda t, s, f: f"00-{t}-{s}-{f}", hex_id(32), hex_id(16), st.text(HEX, min_size=2, max_size=2)
)


@given(valid)
def test_format_of_parse_is_the_identity_on_valid_headers(header: str) -> None:
    ctx = parse_traceparent(header)
    assert ctx is not None and format_traceparent(ctx) == header


def oracle(s: str) -> bool:
    """The spec's grammar as a regular expression, independent of the parser."""
    m = re.fullmatch(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(.*)", s, re.S)
    if m is None:
        return False
    version, trace_id, span_id, _, rest = m.groups()
    if version == "ff" or set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return False
    if version == "00":
        return rest == ""
    return rest == "" or rest.startswith("-")


@st.composite
def mutated(draw: Any) -> str:
    s = list(draw(valid))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(s)))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        c = draw(st.sampled_from([*"0af-FgZ \n", "ff", "00", "\u00e9", "\uff14"]))
        if op == "replace" and i < len(s):
            s[i] = c
        elif op == "insert":
            s.insert(i, c)
        elif i < len(s):
            del s[i]
    return "".join(s)


@settings(max_examples=1000)
@given(st.one_of(st.text(), mutated(), st.binary()))
def test_garbage_never_raises_and_agrees_with_the_grammar(value: Any) -> None:
    ctx = parse_traceparent(value)
    text = value if isinstance(value, str) else value.decode("ascii", "replace")
    if isinstance(value, bytes) and not value.isascii():
        assert ctx is None
    else:
        assert (ctx is not None) == oracle(text)


def test_tracestate_is_carried_unchanged_within_bounds() -> None:
    assert parse_tracestate("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7") == (
        "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"
    )
    assert parse_tracestate(["a=1", "b=2"]) == "a=1,b=2"
    assert parse_tracestate(None) == ""
    assert parse_tracestate("a=1\r\nx: y") == ""
    many = ",".join(f"k{i}=v" for i in range(40))
    assert parse_tracestate(many) == ",".join(f"k{i}=v" for i in range(32))
    long = "big=" + "x" * 200
    crowded = ",".join([long] + [f"k{i}={'y' * 20}" for i in range(20)])
    kept = parse_tracestate(crowded)
    assert len(kept) <= 512 and "big=" not in kept and kept.startswith("k0=")


def test_extract_ignores_tracestate_without_a_valid_traceparent() -> None:
    assert extract("junk", "a=1") is None
    ctx = extract(EXAMPLE, "a=1")
    assert ctx is not None and ctx.tracestate == "a=1"
    assert ctx.headers() == {"traceparent": EXAMPLE, "tracestate": "a=1"}


def test_new_trace_and_child_of() -> None:
    root = new_trace()
    assert root.parent_id is None and root.sampled and len(root.trace_id) == 32
    remote = SpanContext(root.trace_id, root.span_id, None, 0xFF, "a=1")
    child = child_of(remote)
    assert child.trace_id == root.trace_id and child.parent_id == root.span_id
    assert child.span_id != root.span_id and child.flags == 0x01 and child.tracestate == "a=1"
    assert not new_trace(sampled=False).sampled


def test_span_context_validates_its_ids() -> None:
    with pytest.raises(ValueError, match="trace_id"):
        SpanContext("0" * 32, "1" * 16)
    with pytest.raises(ValueError, match="span_id"):
        SpanContext("1" * 32, "ABCDEF0123456789")
    with pytest.raises(ValueError, match="flags"):
        SpanContext("1" * 32, "1" * 16, None, 256)


def test_ids_are_unique_across_threads() -> None:
    out: list[list[str]] = []

    def make() -> None:
        out.append([new_trace_id() for _ in range(2000)] + [new_span_id() for _ in range(2000)])

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    ids = [i for chunk in out for i in chunk]
    assert len(ids) == 8 * 4000 and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{16}", i) for i in ids)


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """structlog with merge_contextvars, capturing; the processor list is edited in place
    (loggers already built keep a reference to it) and restored."""
    cap = LogCapture()
    processors = structlog.get_config()["processors"]
    saved = list(processors)
    processors[:] = [structlog.contextvars.merge_contextvars, cap]
    structlog.contextvars.clear_contextvars()
    try:
        yield cap.entries
    finally:
        processors[:] = saved
        structlog.contextvars.clear_contextvars()


def test_span_binds_and_restores_log_context(logs: list[dict[str, Any]]) -> None:
    logger = structlog.get_logger("test")
    structlog.contextvars.bind_contextvars(trace_id="outer", request="r1")
    with start_span("outer") as outer:
        logger.info("a")
        with start_span("inner") as inner:
            logger.info("b")
            assert current_span() is inner
        logger.info("c")
    logger.info("d")
    assert inner.context.parent_id == outer.context.span_id
    assert [(e["event"], e["trace_id"], e.get("span_id")) for e in logs] == [
        ("a", outer.context.trace_id, outer.context.span_id),
        ("b", outer.context.trace_id, inner.context.span_id),
        ("c", outer.context.trace_id, outer.context.span_id),
        ("d", "outer", None),
    ]
    assert all(e["request"] == "r1" for e in logs)
    assert current_span() is None


def test_a_remote_parent_continues_its_trace() -> None:
    remote = parse_traceparent(EXAMPLE)
    with start_span("handler", parent=remote) as span:
        assert span.context.trace_id == remote.trace_id  # type: ignore[union-attr]
        assert span.context.parent_id == "00f067aa0ba902b7"
        with start_span("fresh", parent=None) as fresh:
            assert fresh.context.trace_id != remote.trace_id  # type: ignore[union-attr]


def test_span_end_hook_and_errors() -> None:
    ended: list[Any] = []
    unsubscribe = on_span_end(ended.append)
    try:
        with pytest.raises(KeyError), start_span("boom", attributes={"k": 1}):
            raise KeyError("x")
    finally:
        unsubscribe()
    (span,) = ended
    assert span.name == "boom" and isinstance(span.error, KeyError)
    assert span.attributes == {"k": 1} and span.duration is not None and span.duration >= 0


@pytest.mark.threaded
def test_gs_spawned_inside_a_span_log_its_trace_id(logs: list[dict[str, Any]]) -> None:
    logger = structlog.get_logger("test")

    async def child(i: int) -> SpanContext | None:
        await gmp.sleep(0)
        logger.info("child", i=i)
        inherited = current_context()
        assert inherited is not None
        with start_span("grandchild") as gc:
            logger.info("grandchild", i=i)
            assert gc.context.parent_id == inherited.span_id
        assert current_context() is inherited
        return inherited

    async def main() -> tuple[SpanContext, list[SpanContext | None]]:
        with start_span("root") as root:
            hs = [gmp.go(child, i) for i in range(8)]
            seen = [await h.join() for h in hs]
        assert current_context() is None
        return root.context, seen

    root, seen = gmp.run(main, procs=4)
    assert all(s == root for s in seen)
    kids = [e for e in logs if e["event"] == "child"]
    grandkids = [e for e in logs if e["event"] == "grandchild"]
    assert len(kids) == len(grandkids) == 8
    assert all(e["trace_id"] == root.trace_id for e in kids + grandkids)
    assert all(e["span_id"] == root.span_id for e in kids)
    assert all(e["span_id"] != root.span_id for e in grandkids)


async def test_trio_tasks_inherit_the_span(logs: list[dict[str, Any]]) -> None:
    logger = structlog.get_logger("test")
    with start_span("root") as root:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: _log_later(logger))
    assert logs[0]["trace_id"] == root.context.trace_id


async def _log_later(logger: Any) -> None:
    await trio.sleep(0)
    logger.info("task")
