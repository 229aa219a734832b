"""A circuit breaker: stop calling a dependency that is failing, probe it, resume.

The state machine of sony/gobreaker and resilience4j's CircuitBreaker:

- **CLOSED**: calls pass and their outcomes are counted in a rolling window of
  ``window`` seconds (``buckets`` buckets, like resilience4j's time-based sliding
  window). A failure that brings the window to at least ``min_calls`` calls with a
  failure ratio of at least ``failure_ratio``, or ``consecutive_failures`` failures in a
  row (gobreaker's default ``ReadyToTrip``), opens the breaker.
- **OPEN**: calls fail fast with :class:`CircuitOpenError` (carrying ``retry_after``)
  for ``cooldown`` seconds, sparing the dependency and the caller's threads.
- **HALF_OPEN**: at most ``half_open_max_calls`` probes run at once; ``success_threshold``
  probe successes close the breaker, one probe failure reopens it for another cooldown.

An outcome is attributed to the state it was admitted in (gobreaker's generations): a
slow call admitted while CLOSED that fails after the breaker opened changes nothing.
Exceptions in ``ignore`` count as neither success nor failure, those outside
``failure_on`` count as successes (resilience4j's ``ignoreExceptions`` and
``recordExceptions``), and cancellation (``BaseException`` that is not an ``Exception``,
e.g. ``gmp.Cancelled``, ``trio.Cancelled``, ``KeyboardInterrupt``) counts as neither.

For middleware there is a low-level form: ``ticket = breaker.allow()`` (or raises
CircuitOpenError), then ``ticket.success()`` / ``ticket.failure()`` / ``ticket.release()``;
``with breaker.allow() as t:`` settles it on exit. A probe ticket dropped unsettled gives
its half-open slot back when it is garbage collected, so a lost ticket cannot wedge the
breaker half-open.

All state is guarded by one ``threading.Lock``; state-change listeners and logging run
after it is released.
"""

from __future__ import annotations

import enum
import functools
import inspect
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast, overload

import attrs

from gmp.errors import GmpError
from gmp.observe.log import get_logger
from gmp.resilience import _validate

log = get_logger("gmp.resilience.breaker")

P = ParamSpec("P")
T = TypeVar("T")


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(GmpError):
    """The breaker refused the call: it is open, or half-open with every probe slot taken.

    ``breaker`` is the breaker's name; ``retry_after`` the seconds until it lets a probe
    through (0 when half-open: a probe is in flight and the answer may come any moment).
    """

    def __init__(self, breaker: str, state: State, retry_after: float) -> None:
        why = "open" if state is State.OPEN else "half-open with every probe slot taken"
        super().__init__(f"circuit {breaker!r} is {why}; retry after {retry_after:.3g}s")
        self.breaker = breaker
        self.state = state
        self.retry_after = retry_after


@attrs.frozen
class StateChange:
    """One transition, as given to listeners. ``at`` is on the breaker's clock."""

    breaker: str
    from_state: State
    to_state: State
    reason: str
    at: float


@attrs.frozen
class Counts:
    """A snapshot of the breaker, for metrics (gobreaker's Counts, plus the window)."""

    state: State
    successes: int
    """Successes in the rolling window (CLOSED) or probe successes (HALF_OPEN)."""
    failures: int
    """Failures in the rolling window."""
    consecutive_failures: int
    consecutive_successes: int
    probes_in_flight: int
    rejected: int
    """Calls refused with CircuitOpenError since the breaker was made."""


_SUCCESS = 0
_FAILURE = 1
_RELEASE = 2


class Ticket:
    """Permission for one call; settle it exactly once (later settlements are no-ops).

    As a context manager it settles itself on exit: no exception (and not settled in
    the block) is a success, an exception is classified by the breaker's rules.
    """

    __slots__ = ("_breaker", "_done", "_generation", "_probe")

    def __init__(self, breaker: CircuitBreaker, generation: int, probe: bool) -> None:
        self._breaker = breaker
        self._generation = generation
        self._probe = probe
        self._done = False

    @property
    def probe(self) -> bool:
        """True if this call is a half-open probe."""
        return self._probe

    @property
    def settled(self) -> bool:
        return self._done

    def success(self) -> None:
        self._breaker._settle(self, _SUCCESS)

    def failure(self) -> None:
        self._breaker._settle(self, _FAILURE)

    def release(self) -> None:
        """Neither success nor failure (an ignored error, a cancelled request)."""
        self._breaker._settle(self, _RELEASE)

    def record(self, exc: BaseException | None) -> None:
        """Settle by outcome: ``None`` is a success, an exception is classified."""
        self._breaker._settle(self, self._breaker._classify(exc))

    def __enter__(self) -> Ticket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._done:
            self.record(exc)

    def __del__(self) -> None:
        # The collector may run this on any thread, even one holding the breaker's lock
        # (a collection triggered inside it), so only hand the slot back to a deque the
        # breaker drains under its lock; deque appends are thread-safe.
        if self._probe and not self._done:
            self._done = True
            self._breaker._dropped.append(self._generation)


_NEVER = -(1 << 62)
"""The epoch of a bucket that holds nothing (older than any window)."""


class _Window:
    """Outcomes of the last ``window`` seconds in ``n`` buckets of ``window/n`` seconds
    (resilience4j's time-based sliding window: a bucket expires whole)."""

    __slots__ = ("epochs", "failures", "n", "successes", "width")

    def __init__(self, window: float, n: int) -> None:
        self.width = window / n
        self.n = n
        self.epochs = [_NEVER] * n
        self.successes = [0] * n
        self.failures = [0] * n

    def add(self, now: float, failed: bool) -> None:
        epoch = int(now // self.width)
        i = epoch % self.n
        if self.epochs[i] != epoch:
            self.epochs[i] = epoch
            self.successes[i] = 0
            self.failures[i] = 0
        if failed:
            self.failures[i] += 1
        else:
            self.successes[i] += 1

    def totals(self, now: float) -> tuple[int, int]:
        oldest = int(now // self.width) - self.n + 1
        s = f = 0
        for i, epoch in enumerate(self.epochs):
            if epoch >= oldest:
                s += self.successes[i]
                f += self.failures[i]
        return s, f

    def clear(self) -> None:
        self.epochs = [_NEVER] * self.n


Listener = Callable[[StateChange], None]


class CircuitBreaker:
    """A named circuit breaker (see the module docstring for the state machine).

    Use it as a decorator (``@breaker`` on a sync or async function), through
    ``breaker.call(fn, *args)``, or with ``allow()`` tickets.
    """

    __slots__ = (
        "_consecutive_failures",
        "_consecutive_successes",
        "_cooldown",
        "_dropped",
        "_failure_on",
        "_failure_ratio",
        "_generation",
        "_half_open_max",
        "_ignore",
        "_listeners",
        "_lock",
        "_min_calls",
        "_opened_at",
        "_probe_successes",
        "_probes",
        "_rejected",
        "_state",
        "_success_threshold",
        "_trip_after",
        "_window",
        "clock",
        "name",
    )

    def __init__(
        self,
        name: str,
        *,
        failure_ratio: float | None = 0.5,
        min_calls: int = 10,
        consecutive_failures: int | None = None,
        window: float = 10.0,
        buckets: int = 10,
        cooldown: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int | None = None,
        failure_on: tuple[type[BaseException], ...] = (Exception,),
        ignore: tuple[type[BaseException], ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        if failure_ratio is not None:
            ratio = _validate.number("failure_ratio", failure_ratio)
            if not 0 < ratio <= 1:
                raise ValueError(f"failure_ratio must be in (0, 1], got {failure_ratio!r}")
            failure_ratio = ratio
        if consecutive_failures is not None:
            _validate.integer("consecutive_failures", consecutive_failures, at_least=1)
        if failure_ratio is None and consecutive_failures is None:
            raise ValueError("failure_ratio and consecutive_failures are both None: it never trips")
        self._failure_ratio = failure_ratio
        self._trip_after = consecutive_failures
        self._min_calls = _validate.integer("min_calls", min_calls, at_least=1)
        window = _validate.positive("window", window)
        buckets = _validate.integer("buckets", buckets, at_least=1)
        self._window = _Window(window, buckets)
        self._cooldown = _validate.non_negative("cooldown", cooldown)
        self._half_open_max = _validate.integer(
            "half_open_max_calls", half_open_max_calls, at_least=1
        )
        if success_threshold is None:
            success_threshold = self._half_open_max  # gobreaker: MaxRequests successes
        self._success_threshold = _validate.integer(
            "success_threshold", success_threshold, at_least=1
        )
        self._failure_on = _exception_types("failure_on", failure_on)
        self._ignore = _exception_types("ignore", ignore)
        if not callable(clock):
            raise TypeError(f"clock must be callable, got {type(clock).__name__}")
        self.clock = clock
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._generation = 0
        self._opened_at = -math.inf
        self._probes = 0
        self._probe_successes = 0
        self._consecutive_failures = 0
        self._consecutive_successes = 0
        self._rejected = 0
        self._listeners: list[Listener] = []
        self._dropped: deque[int] = deque()

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} {self._state.value}>"

    # -- the state machine (lock held) -------------------------------------------------

    def _to(self, state: State, now: float, reason: str, changes: list[StateChange]) -> None:
        changes.append(StateChange(self.name, self._state, state, reason, now))
        self._state = state
        self._generation += 1
        self._probes = 0
        self._probe_successes = 0
        self._consecutive_failures = 0
        self._consecutive_successes = 0
        if state is State.OPEN:
            self._opened_at = now
        elif state is State.CLOSED:
            self._window.clear()

    def _refresh(self, now: float, changes: list[StateChange]) -> None:
        dropped = self._dropped
        while dropped:
            if dropped.popleft() == self._generation and self._probes > 0:
                self._probes -= 1
        if self._state is State.OPEN and now >= self._opened_at + self._cooldown:
            self._to(State.HALF_OPEN, now, "cooldown elapsed", changes)

    def _settle(self, ticket: Ticket, outcome: int) -> None:
        changes: list[StateChange] = []
        with self._lock:
            if ticket._done:
                return
            ticket._done = True
            now = self.clock()
            self._refresh(now, changes)
            if ticket._generation == self._generation:
                if ticket._probe:
                    self._probes -= 1
                if outcome != _RELEASE:
                    self._record(now, outcome == _FAILURE, changes)
        self._emit(changes)

    def _record(self, now: float, failed: bool, changes: list[StateChange]) -> None:
        if failed:
            self._consecutive_failures += 1
            self._consecutive_successes = 0
        else:
            self._consecutive_successes += 1
            self._consecutive_failures = 0
        if self._state is State.HALF_OPEN:
            if failed:
                self._to(State.OPEN, now, "probe failed", changes)
            else:
                self._probe_successes += 1
                if self._probe_successes >= self._success_threshold:
                    n = self._probe_successes
                    self._to(State.CLOSED, now, f"{n} probe(s) succeeded", changes)
            return
        window = self._window
        window.add(now, failed)
        if not failed:
            return
        if self._trip_after is not None and self._consecutive_failures >= self._trip_after:
            self._to(State.OPEN, now, f"{self._consecutive_failures} consecutive failures", changes)
            return
        if self._failure_ratio is not None:
            s, f = window.totals(now)
            total = s + f
            if total >= self._min_calls and f >= self._failure_ratio * total:
                self._to(
                    State.OPEN,
                    now,
                    f"{f} of {total} calls failed in the last {window.width * window.n:g}s",
                    changes,
                )

    # -- the public side ---------------------------------------------------------------

    def allow(self) -> Ticket:
        """A ticket for one call, or CircuitOpenError if the breaker refuses it."""
        changes: list[StateChange] = []
        error: CircuitOpenError | None = None
        with self._lock:
            now = self.clock()
            self._refresh(now, changes)
            state = self._state
            if state is State.CLOSED:
                ticket = Ticket(self, self._generation, False)
            elif state is State.HALF_OPEN and self._probes < self._half_open_max:
                self._probes += 1
                ticket = Ticket(self, self._generation, True)
            else:
                self._rejected += 1
                retry = 0.0
                if state is State.OPEN:
                    retry = max(0.0, self._opened_at + self._cooldown - now)
                error = CircuitOpenError(self.name, state, retry)
        self._emit(changes)
        if error is not None:
            raise error
        return ticket

    @property
    def state(self) -> State:
        """The current state (an elapsed cooldown turns OPEN into HALF_OPEN here)."""
        changes: list[StateChange] = []
        with self._lock:
            self._refresh(self.clock(), changes)
            state = self._state
        self._emit(changes)
        return state

    def counts(self) -> Counts:
        changes: list[StateChange] = []
        with self._lock:
            now = self.clock()
            self._refresh(now, changes)
            if self._state is State.HALF_OPEN:
                s, f = self._probe_successes, 0
            else:
                s, f = self._window.totals(now)
            counts = Counts(
                state=self._state,
                successes=s,
                failures=f,
                consecutive_failures=self._consecutive_failures,
                consecutive_successes=self._consecutive_successes,
                probes_in_flight=self._probes,
                rejected=self._rejected,
            )
        self._emit(changes)
        return counts

    def reset(self) -> None:
        """Close the breaker and forget its counts (an operator's override)."""
        changes: list[StateChange] = []
        with self._lock:
            self._to(State.CLOSED, self.clock(), "reset", changes)
        self._emit(changes)

    def on_state_change(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(StateChange)`` on every transition; returns an unsubscriber.

        Callbacks run on the thread that caused the transition, after the breaker's lock
        is released (so they may read the breaker); an exception in one is logged and
        does not reach the caller. Two transitions racing on two threads may reach
        listeners out of order; ``StateChange.at`` orders them.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def _emit(self, changes: list[StateChange]) -> None:
        if not changes:
            return
        with self._lock:
            listeners = list(self._listeners)
        for c in changes:
            level = log.warning if c.to_state is State.OPEN else log.info
            level(
                "circuit breaker state change",
                breaker=c.breaker,
                reason=c.reason,
                **{"from": c.from_state.value, "to": c.to_state.value},
            )
            for cb in listeners:
                try:
                    cb(c)
                except Exception:
                    log.exception("circuit breaker listener failed", breaker=self.name)

    def _classify(self, exc: BaseException | None) -> int:
        if exc is None:
            return _SUCCESS
        if isinstance(exc, self._ignore) or not isinstance(exc, Exception):
            return _RELEASE
        if isinstance(exc, self._failure_on):
            return _FAILURE
        return _SUCCESS

    # -- wrapping calls ----------------------------------------------------------------

    @overload
    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]: ...

    @overload
    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]: ...

    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate ``fn`` (sync or async) so every call goes through the breaker."""
        if not callable(fn):
            raise TypeError(f"@breaker needs a callable, got {type(fn).__name__}")
        if inspect.iscoroutinefunction(fn):
            afn = cast(Callable[P, Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                ticket = self.allow()
                try:
                    result = await afn(*args, **kwargs)
                except BaseException as e:
                    ticket.record(e)
                    raise
                ticket.success()
                return result

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            ticket = self.allow()
            try:
                result = fn(*args, **kwargs)
            except BaseException as e:
                ticket.record(e)
                raise
            ticket.success()
            return result

        return wrapper

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` through the breaker; for an async ``fn`` this returns
        the awaitable to await (``await breaker.call(fetch, url)``)."""
        return self(fn)(*args, **kwargs)


def _exception_types(name: str, value: Any) -> tuple[type[BaseException], ...]:
    if isinstance(value, type):
        value = (value,)
    if not isinstance(value, tuple) or not all(
        isinstance(t, type) and issubclass(t, BaseException) for t in value
    ):
        raise TypeError(f"{name} must be a tuple of exception classes, got {value!r}")
    return value
