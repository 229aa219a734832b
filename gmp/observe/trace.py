"""Tracing core: W3C Trace Context propagation and the current span, bound into logs.

``traceparent`` headers are parsed and formatted exactly as the W3C Trace Context
recommendation (https://www.w3.org/TR/trace-context/) says: version ``00`` is
``00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>``, lowercase hex only; an
all-zero trace-id or parent-id and version ``ff`` are invalid; a higher version is read
by its first four fields, provided what follows them starts with ``-``. Anything
invalid parses to ``None``, and the caller starts a new trace (the spec's "restart the
trace"). ``tracestate`` is carried through unchanged, within the spec's bounds (32
list-members, 512 characters; past that, members are dropped as §3.3.1.5 says).

:func:`start_span` makes a span the current one in a :class:`contextvars.ContextVar` and
binds ``trace_id`` and ``span_id`` into structlog's contextvars, so every log line inside
it (with ``structlog.contextvars.merge_contextvars`` in the application's processors)
names its trace. Every gmp G starts with a copy of its spawner's contextvars, like a
trio task, so a G spawned inside a span logs the same trace id with no plumbing.

Export is pluggable two ways. :func:`on_span_end` hands every ended span to listeners
(a log line per span, a test). A :class:`SpanBackend` is the heavier hook: it is asked
at a span's start for the span's ids and at its end to record it, so a tracing SDK can
own the spans (sampling, processors, its own context). :mod:`gmp.observe.otel` is the
OpenTelemetry one (``pip install 'gmp-runtime[otel]'``); a span passes its backend on to the
spans started under it, including in the Gs it spawns, so one ``Tracing(exporter=...)``
exports the request's span and every span below it. Nothing here imports a backend.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Protocol, TypeVar, overload

import attrs
import structlog

from gmp.observe.log import get_logger

log = get_logger("gmp.observe.trace")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
SAMPLED = 0x01
"""The only trace-flag of version 00."""
MAX_TRACESTATE_MEMBERS = 32
MAX_TRACESTATE_LENGTH = 512
"""The spec's propagation floor: "vendors SHOULD propagate at least 512 characters"."""

_HEX = frozenset("0123456789abcdef")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


# -- ids ---------------------------------------------------------------------------------


class _Rng(threading.local):
    """One ``random.Random`` per thread, seeded from ``os.urandom``.

    Measured on CPython 3.11 (``timeit``, one thread): ``rng.randbytes(16).hex()`` on a
    thread-local generator 0.21 µs per trace id; ``f"{rng.getrandbits(128):032x}"``
    0.40 µs; ``os.urandom(16).hex()`` 0.36 µs and ``secrets.token_hex(16)`` 0.49 µs (a
    getrandom syscall each). A thread-local generator needs no lock (a shared one would
    need one without the GIL), and urandom seeding keeps processes and threads apart.
    Trace ids are identifiers, not secrets; the spec asks only that they be random
    enough to be unique. The generators are reseeded in a forked child, so pre-forked
    workers do not repeat each other's ids.
    """

    def __init__(self) -> None:
        self.rng = random.Random(int.from_bytes(os.urandom(32), "big"))


_rng = _Rng()


def _reseed_after_fork() -> None:
    global _rng
    _rng = _Rng()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


def random_hex(nbytes: int) -> str:
    """``2 * nbytes`` random lowercase hex digits, never all zero, from this thread's
    generator: no system call, so no GIL hand-over (request ids use it too)."""
    # rng.randbytes(n) is getrandbits(8 * n).to_bytes(n, "little") (random.py): the same
    # digits, without its Python frame or a second one here, and the zero test on the
    # int: 0.25 -> 0.14 us an id (timeit, CPython 3.11).
    rng = _rng.rng
    bits = rng.getrandbits(nbytes * 8)
    while not bits:  # all zeros is the spec's invalid value
        bits = rng.getrandbits(nbytes * 8)
    return bits.to_bytes(nbytes, "little").hex()


def new_trace_id() -> str:
    """32 lowercase hex digits, never all zero."""
    return random_hex(16)


def new_span_id() -> str:
    """16 lowercase hex digits, never all zero."""
    return random_hex(8)


# -- span contexts and headers -----------------------------------------------------------


def _is_hex(s: str) -> bool:
    return _HEX.issuperset(s)


def _check_id(name: str, value: Any, length: int) -> None:
    if not isinstance(value, str) or len(value) != length or not _is_hex(value):
        raise ValueError(f"{name} must be {length} lowercase hex digits, got {value!r}")
    if not value.strip("0"):
        raise ValueError(f"{name} must not be all zeros")


def _check_trace_id(_inst: Any, _attr: Any, value: Any) -> None:
    _check_id("trace_id", value, 32)


def _check_span_id(_inst: Any, _attr: Any, value: Any) -> None:
    _check_id("span_id", value, 16)


def _check_parent_id(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None:
        _check_id("parent_id", value, 16)


def _check_flags(_inst: Any, _attr: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ValueError(f"flags must be an int in [0, 255], got {value!r}")


@attrs.frozen
class SpanContext:
    """What identifies a span across processes: the ``traceparent`` fields, plus the
    ``tracestate`` carried with them. ``parent_id`` is the span this one is a child of
    (None for a root, and for a context parsed from a header: that one *is* the remote
    parent)."""

    trace_id: str = attrs.field(validator=_check_trace_id)
    span_id: str = attrs.field(validator=_check_span_id)
    parent_id: str | None = attrs.field(default=None, validator=_check_parent_id)
    flags: int = attrs.field(default=SAMPLED, validator=_check_flags)
    tracestate: str = ""

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    @property
    def traceparent(self) -> str:
        """This context as a version-00 ``traceparent`` value."""
        return format_traceparent(self)

    def headers(self) -> dict[str, str]:
        """``traceparent`` (and ``tracestate`` if any) for an outgoing request."""
        out = {TRACEPARENT: format_traceparent(self)}
        if self.tracestate:
            out[TRACESTATE] = self.tracestate
        return out


def parse_traceparent(value: str | bytes | None) -> SpanContext | None:
    """The remote parent named by a ``traceparent`` value, or None if it is invalid.

    Never raises: any input that is not a valid header (wrong type, length, case,
    separators, an all-zero id, version ``ff``) gives None.
    """
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    n = len(value)
    if n < 55:
        return None
    version = value[:2]
    if not _is_hex(version) or version == "ff":
        return None
    if n > 55 and (version == "00" or value[55] != "-"):
        return None
    if value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    trace_id = value[3:35]
    span_id = value[36:52]
    flags = value[53:55]
    if not (_is_hex(trace_id) and _is_hex(span_id) and _is_hex(flags)):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return SpanContext(trace_id, span_id, None, int(flags, 16))


def format_traceparent(ctx: SpanContext) -> str:
    """``00-<trace_id>-<span_id>-<flags>``: gmp always sends version 00, as the spec asks
    of a participant that only knows version 00."""
    return f"00-{ctx.trace_id}-{ctx.span_id}-{ctx.flags:02x}"


def parse_tracestate(value: str | Iterable[str] | None) -> str:
    """A ``tracestate`` value to carry on, given one header value or several.

    Several headers are combined with ``,`` (RFC 9110 §5.3). The value is kept as it
    came (no member is reordered or rewritten) unless it breaks the spec's bounds: over
    32 list-members or 512 characters, members longer than 128 characters go first,
    then members from the right, until it fits (§3.3.1.5). A value with characters
    outside printable ASCII is dropped whole, since it is echoed into outgoing headers.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        value = ",".join(v for v in value if isinstance(v, str))
    if not all(" " <= c <= "~" or c == "\t" for c in value):
        return ""
    members = [m.strip(" \t") for m in value.split(",")]
    members = [m for m in members if m]
    if len(members) <= MAX_TRACESTATE_MEMBERS and len(value) <= MAX_TRACESTATE_LENGTH:
        return value.strip(" \t")
    members = members[:MAX_TRACESTATE_MEMBERS]
    while len(",".join(members)) > MAX_TRACESTATE_LENGTH:
        long = next((i for i, m in enumerate(members) if len(m) > 128), None)
        members.pop(long if long is not None else -1)
    return ",".join(members)


def extract(
    traceparent: str | bytes | None, tracestate: str | Iterable[str] | None = None
) -> SpanContext | None:
    """The remote parent from incoming header values; None means start a new trace.

    ``tracestate`` is ignored when ``traceparent`` is invalid, as the spec requires.
    """
    ctx = parse_traceparent(traceparent)
    if ctx is None:
        return None
    state = parse_tracestate(tracestate)
    return attrs.evolve(ctx, tracestate=state) if state else ctx


_new_context = object.__new__
_set = object.__setattr__


def trusted_context(
    trace_id: str, span_id: str, parent_id: str | None, flags: int, tracestate: str = ""
) -> SpanContext:
    """A :class:`SpanContext` from ids already known to be valid, without the validators.

    Why: the validators cost a quarter of a span's own time, and ids this module
    generated (or a tracing SDK formatted from its integers) are valid by construction;
    anything parsed from outside still goes through :func:`parse_traceparent` and the
    checked constructor.
    """
    ctx = _new_context(SpanContext)
    _set(ctx, "trace_id", trace_id)
    _set(ctx, "span_id", span_id)
    _set(ctx, "parent_id", parent_id)
    _set(ctx, "flags", flags)
    _set(ctx, "tracestate", tracestate)
    return ctx


def new_trace(*, sampled: bool = True) -> SpanContext:
    """A root span context with fresh ids (both from one draw of the generator)."""
    h = _rng.rng.randbytes(24).hex()
    trace_id, span_id = h[:32], h[32:]
    if not (trace_id.strip("0") and span_id.strip("0")):  # all zeros: invalid, redraw
        trace_id, span_id = new_trace_id(), new_span_id()
    return trusted_context(trace_id, span_id, None, SAMPLED if sampled else 0)


def child_of(parent: SpanContext) -> SpanContext:
    """A new span in ``parent``'s trace: same trace id, sampling and tracestate.

    Flags other than ``sampled`` are not passed on: version 00 defines no others and
    the spec tells vendors to send them as zero.
    """
    return trusted_context(
        parent.trace_id, new_span_id(), parent.span_id, parent.flags & SAMPLED, parent.tracestate
    )


# -- the current span --------------------------------------------------------------------


INTERNAL = "internal"
SERVER = "server"
CLIENT = "client"
PRODUCER = "producer"
CONSUMER = "consumer"
SPAN_KINDS = frozenset((INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER))
"""OpenTelemetry's span kinds, by their lowercase names."""

UNSET = "unset"
OK = "ok"
ERROR = "error"
STATUSES = frozenset((UNSET, OK, ERROR))
"""OpenTelemetry's span status codes: ``unset`` unless something decided otherwise."""


@attrs.define(slots=True, eq=False)
class Span:
    """A timed operation. ``start``/``end`` are ``time.time()`` seconds (wall clock, as
    trace backends want); ``error`` is the exception that ended it, if any.

    ``kind`` and ``status`` follow OpenTelemetry's span model: an exception (not a
    cancellation, which is a ``BaseException`` only) sets ``status`` to ``error`` unless
    the code set it first; the HTTP middleware sets it from the response. ``backend``
    and ``native`` are the :class:`SpanBackend` recording the span and its own object
    for it (None without one)."""

    name: str
    context: SpanContext
    attributes: dict[str, Any] = attrs.Factory(dict)
    start: float = attrs.field(factory=time.time)
    end: float | None = None
    error: BaseException | None = None
    kind: str = INTERNAL
    status: str = UNSET
    status_message: str = ""
    backend: SpanBackend | None = None
    native: Any = None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def set_status(self, status: str, message: str = "") -> None:
        """``unset``, ``ok`` or ``error``; ``message`` is kept for ``error`` only, as
        OpenTelemetry's ``Status`` does."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}, got {status!r}")
        self.status = status
        self.status_message = message if status == ERROR else ""


class SpanBackend(Protocol):
    """What records spans for a tracing system (see the module docstring).

    ``start`` runs when the span is entered, in the G or task that enters it. It may
    replace ``span.context`` with the ids its system chose (they are bound into the logs
    after it returns) and keep its own object in ``span.native``. ``parent`` is the
    span's parent: a local :class:`Span`, a remote :class:`SpanContext`, or None for a
    new trace. ``end`` runs at the span's exit, in the same G, before the listeners.
    Both are called on the request path: keep them cheap and never raise (errors are
    logged and the span goes on without its backend).
    """

    def start(self, span: Span, parent: Span | SpanContext | None) -> None: ...

    def end(self, span: Span) -> None: ...


_current: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
    "gmp_current_span", default=None
)

SpanListener = Callable[[Span], None]
_listeners: tuple[SpanListener, ...] = ()
"""Replaced whole under the lock (copy on write), read without it: a span's end pays
no lock and no copy."""
_listeners_lock = threading.Lock()


def current_span() -> Span | None:
    """The span the calling code runs in (this G's or task's copy of the context)."""
    return _current.get()


def current_context() -> SpanContext | None:
    span = _current.get()
    return None if span is None else span.context


def on_span_end(callback: SpanListener) -> Callable[[], None]:
    """Call ``callback(span)`` when any span ends (on the ending thread); returns an
    unsubscriber. An exception in a callback is logged, never raised into the span."""
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    global _listeners
    with _listeners_lock:
        _listeners = (*_listeners, callback)

    def unsubscribe() -> None:
        global _listeners
        with _listeners_lock:
            if callback in _listeners:
                i = _listeners.index(callback)
                _listeners = _listeners[:i] + _listeners[i + 1 :]

    return unsubscribe


_CURRENT: Any = object()
"""``start_span``'s default parent: the current span, if there is one."""


def start_span(
    name: str,
    *,
    parent: SpanContext | Span | None = _CURRENT,
    attributes: Mapping[str, Any] | None = None,
    sampled: bool = True,
    kind: str = INTERNAL,
    backend: SpanBackend | None = _CURRENT,
) -> SpanScope:
    """``with start_span("name") as span:`` makes a new span current for the block.

    ``parent`` defaults to the current span; pass a :class:`SpanContext` (for example
    from :func:`extract` on an incoming request) to continue a remote trace, or None to
    start a new one. Inside the block ``trace_id`` and ``span_id`` are bound in
    structlog's contextvars; on exit the previous span and the previous bindings are
    restored (through the tokens ``bind_contextvars`` returned). Enter and exit it in the
    same G or task, as with any contextvar. ``sampled`` applies to a new trace only.
    ``backend`` defaults to the parent span's (None for a remote or no parent).
    """
    return SpanScope(
        name, parent=parent, attributes=attributes, sampled=sampled, kind=kind, backend=backend
    )


_PENDING = trusted_context("0" * 32, "0" * 16, None, 0)
"""A span's context until its backend gives it ids (never seen outside this module)."""


def _ids(parent: SpanContext | Span | None, sampled: bool) -> SpanContext:
    if isinstance(parent, Span):
        return child_of(parent.context)
    if parent is None:
        return new_trace(sampled=sampled)
    return child_of(parent)


class SpanScope:
    """The context manager :func:`start_span` returns; ``__enter__`` gives the Span."""

    __slots__ = ("_log_tokens", "_parent", "_sampled", "_span", "_token")

    def __init__(
        self,
        name: str,
        *,
        parent: SpanContext | Span | None = _CURRENT,
        attributes: Mapping[str, Any] | None = None,
        sampled: bool = True,
        kind: str = INTERNAL,
        backend: SpanBackend | None = _CURRENT,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        if kind not in SPAN_KINDS:
            raise ValueError(f"kind must be one of {sorted(SPAN_KINDS)}, got {kind!r}")
        if parent is _CURRENT:
            parent = _current.get()
        if isinstance(parent, Span):
            if backend is _CURRENT:
                backend = parent.backend
        elif parent is not None and not isinstance(parent, SpanContext):
            raise TypeError(
                f"parent must be a SpanContext, a Span or None, got {type(parent).__name__}"
            )
        if backend is _CURRENT:
            backend = None
        self._parent = parent
        self._sampled = sampled
        # With a backend, the backend chooses the ids at entry: none are drawn here.
        ctx = _PENDING if backend is not None else _ids(parent, sampled)
        self._span = Span(name, ctx, dict(attributes or {}), kind=kind, backend=backend)
        self._token: contextvars.Token[Span | None] | None = None
        self._log_tokens: Mapping[str, contextvars.Token[Any]] = {}

    def __enter__(self) -> Span:
        if self._token is not None:
            raise RuntimeError("a span can be entered only once")
        span = self._span
        backend = span.backend
        if backend is not None:
            try:
                backend.start(span, self._parent)
            except Exception:
                log.exception("span backend failed to start a span", span=span.name)
                span.backend = None
                span.native = None
            if span.context is _PENDING:
                span.context = _ids(self._parent, self._sampled)
        ctx = span.context
        self._token = _current.set(span)
        self._log_tokens = structlog.contextvars.bind_contextvars(
            trace_id=ctx.trace_id, span_id=ctx.span_id
        )
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self._span
        span.end = time.time()
        span.error = exc
        if isinstance(exc, Exception) and span.status == UNSET:
            span.status = ERROR
            span.status_message = f"{type(exc).__name__}: {exc}"
        structlog.contextvars.reset_contextvars(**self._log_tokens)
        assert self._token is not None
        _current.reset(self._token)
        backend = span.backend
        if backend is not None:
            try:
                backend.end(span)
            except Exception:
                log.exception("span backend failed to end a span", span=span.name)
        for cb in _listeners:
            try:
                cb(span)
            except Exception:
                log.exception("span listener failed", span=span.name)


# -- a span per G ------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


@overload
def traced(fn: F, /) -> F: ...


@overload
def traced(
    *, name: str | None = None, attributes: Mapping[str, Any] | None = None
) -> Callable[[F], F]: ...


def traced(
    fn: Any = None, /, *, name: str | None = None, attributes: Mapping[str, Any] | None = None
) -> Any:
    """Run every call of ``fn`` in a child span of the current one: ``@traced`` on a
    function, or ``gmp.go(traced(work), x)`` for one G.

    Why a wrapper: a G starts with a copy of its spawner's contextvars, so it already
    logs the request's trace id; a span of its own shows in the trace view when it ran
    and how long (OpenTelemetry's per-task spans). The span is named ``name`` (default:
    the function's qualified name), is a child of the span current where the call runs
    (for a G, the spawner's span at ``gmp.go``), and is exported by the same backend.
    Async functions get an async wrapper; plain callables (blocking "syscall" Gs) a
    plain one. Outside any span the call still gets one, as a new trace's root.
    """

    def wrap(f: Any) -> Any:
        if not callable(f):
            raise TypeError(f"traced() needs a callable, got {type(f).__name__}")
        span_name = name if name is not None else getattr(f, "__qualname__", repr(f))
        attrs_ = dict(attributes or {})
        if inspect.iscoroutinefunction(f):

            @functools.wraps(f)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with start_span(span_name, attributes=attrs_):
                    return await f(*args, **kwargs)

            return run_async

        @functools.wraps(f)
        def run(*args: Any, **kwargs: Any) -> Any:
            with start_span(span_name, attributes=attrs_):
                return f(*args, **kwargs)

        return run

    return wrap if fn is None else wrap(fn)
