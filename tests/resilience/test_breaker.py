"""The circuit breaker on a fake clock: transitions, fast failure, tickets, decorators."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import structlog
from resilience_fakes import FakeClock

import gmp
from gmp.resilience import CircuitBreaker, CircuitOpenError, State, StateChange


def breaker(clock: FakeClock, **kw: Any) -> CircuitBreaker:
    kw.setdefault("min_calls", 4)
    kw.setdefault("window", 10.0)
    kw.setdefault("cooldown", 5.0)
    return CircuitBreaker("db", clock=clock, **kw)


def fail(b: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        b.allow().failure()


def succeed(b: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        b.allow().success()


def test_opens_on_the_failure_ratio_over_min_calls() -> None:
    clock = FakeClock()
    b = breaker(clock, failure_ratio=0.5)
    succeed(b, 2)
    fail(b)  # 1 of 3: below min_calls anyway
    assert b.state is State.CLOSED
    fail(b)  # 2 of 4 = 0.5
    assert b.state is State.OPEN
    with pytest.raises(CircuitOpenError) as ei:
        b.allow()
    assert ei.value.breaker == "db" and ei.value.retry_after == pytest.approx(5.0)
    clock.advance(2)
    with pytest.raises(CircuitOpenError) as ei:
        b.allow()
    assert ei.value.retry_after == pytest.approx(3.0)
    assert b.counts().rejected == 2


def test_old_outcomes_leave_the_window() -> None:
    clock = FakeClock()
    b = breaker(clock, failure_ratio=0.5, window=10.0, buckets=10)
    fail(b, 3)  # 3 calls: below min_calls
    clock.advance(10)  # those buckets expire
    succeed(b, 3)
    fail(b)  # 1 of 4 in the window
    assert b.state is State.CLOSED
    c = b.counts()
    assert (c.successes, c.failures) == (3, 1)


def test_opens_on_consecutive_failures() -> None:
    clock = FakeClock()
    b = breaker(clock, failure_ratio=None, consecutive_failures=3)
    fail(b, 2)
    succeed(b)
    fail(b, 2)
    assert b.state is State.CLOSED
    fail(b)
    assert b.state is State.OPEN


def test_half_open_admits_limited_probes_and_closes_after_successes() -> None:
    clock = FakeClock()
    b = breaker(clock, half_open_max_calls=2, success_threshold=3)
    fail(b, 4)
    clock.advance(5)
    p1, p2 = b.allow(), b.allow()
    assert p1.probe and p2.probe and b.state is State.HALF_OPEN
    with pytest.raises(CircuitOpenError) as ei:
        b.allow()
    assert ei.value.state is State.HALF_OPEN and ei.value.retry_after == 0.0
    p1.success()
    p2.success()
    assert b.state is State.HALF_OPEN
    b.allow().success()
    assert b.state is State.CLOSED
    assert b.counts().failures == 0  # a closed breaker starts over


def test_a_probe_failure_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    b = breaker(clock)
    fail(b, 4)
    clock.advance(5)
    clock.advance(1)
    b.allow().failure()
    assert b.state is State.OPEN
    with pytest.raises(CircuitOpenError) as ei:
        b.allow()
    assert ei.value.retry_after == pytest.approx(5.0)


def test_late_outcomes_from_an_earlier_state_are_ignored() -> None:
    clock = FakeClock()
    b = breaker(clock, failure_ratio=None, consecutive_failures=2)
    slow = b.allow()  # admitted while closed
    fail(b, 2)
    clock.advance(5)
    probe = b.allow()
    slow.failure()  # belongs to the closed era: does not reopen the half-open breaker
    assert b.state is State.HALF_OPEN
    probe.success()
    assert b.state is State.CLOSED


def test_exception_classification() -> None:
    clock = FakeClock()
    b = breaker(
        clock,
        failure_ratio=None,
        consecutive_failures=1,
        failure_on=(ConnectionError,),
        ignore=(TimeoutError,),
    )
    with pytest.raises(ValueError), b.allow():
        raise ValueError("a bad request is the caller's fault: a success")
    assert b.counts().consecutive_successes == 1
    with pytest.raises(TimeoutError), b.allow():
        raise TimeoutError
    assert b.counts().consecutive_successes == 1  # ignored: neither
    with pytest.raises(gmp.Cancelled), b.allow():
        raise gmp.Cancelled()
    assert b.state is State.CLOSED
    with pytest.raises(ConnectionError), b.allow():
        raise ConnectionError
    assert b.state is State.OPEN


def test_a_ticket_is_settled_once() -> None:
    b = breaker(FakeClock(), failure_ratio=None, consecutive_failures=1)
    t = b.allow()
    t.success()
    t.failure()
    with t:
        pass
    assert t.settled and b.state is State.CLOSED


def test_context_manager_settles_a_probe_so_no_slot_leaks() -> None:
    clock = FakeClock()
    b = breaker(clock, half_open_max_calls=1, success_threshold=5, ignore=(TimeoutError,))
    fail(b, 4)
    clock.advance(5)
    for _ in range(3):
        with pytest.raises(TimeoutError), b.allow():
            raise TimeoutError
        with b.allow() as t:
            t.release()
    assert b.counts().probes_in_flight == 0


def test_a_dropped_probe_ticket_gives_its_slot_back() -> None:
    clock = FakeClock()
    b = breaker(clock, half_open_max_calls=1)
    fail(b, 4)
    clock.advance(5)
    t = b.allow()
    with pytest.raises(CircuitOpenError):
        b.allow()
    del t
    gc.collect()
    assert b.allow().probe


def test_listeners_and_logs_see_every_transition() -> None:
    clock = FakeClock()
    b = breaker(clock)
    seen: list[StateChange] = []
    unsubscribe = b.on_state_change(seen.append)
    b.on_state_change(lambda c: 1 / 0)  # a broken listener is logged, not raised
    with structlog.testing.capture_logs() as logs:
        fail(b, 4)
        clock.advance(5)
        b.allow().success()
    assert [(c.from_state, c.to_state) for c in seen] == [
        (State.CLOSED, State.OPEN),
        (State.OPEN, State.HALF_OPEN),
        (State.HALF_OPEN, State.CLOSED),
    ]
    changes = [e for e in logs if e["event"] == "circuit breaker state change"]
    assert [(e["from"], e["to"]) for e in changes] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert all(e["breaker"] == "db" and e["reason"] for e in changes)
    assert changes[0]["log_level"] == "warning"
    assert changes[0]["logger"] == "gmp.resilience.breaker"
    assert any(e["event"] == "circuit breaker listener failed" for e in logs)
    unsubscribe()
    b.reset()
    assert len(seen) == 3


def test_sync_decorator_and_call() -> None:
    clock = FakeClock()
    b = breaker(clock, failure_ratio=None, consecutive_failures=2)

    @b
    def div(a: int, c: int) -> float:
        return a / c

    assert div(4, 2) == 2.0
    assert div.__name__ == "div"
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            b.call(div.__wrapped__, 1, 0)  # type: ignore[attr-defined]
    with pytest.raises(CircuitOpenError):
        div(4, 2)


def test_async_decorator_inside_gmp() -> None:
    clock = FakeClock()
    b = breaker(clock, failure_ratio=None, consecutive_failures=2)

    @b
    async def fetch(x: int) -> int:
        await gmp.sleep(0)
        if x < 0:
            raise ConnectionError(x)
        return x * 2

    async def main() -> list[Any]:
        out: list[Any] = [await fetch(21), await b.call(fetch, 1)]
        for _ in range(2):
            try:
                await fetch(-1)
            except ConnectionError:
                out.append("failed")
        try:
            await fetch(1)
        except CircuitOpenError as e:
            out.append(e.breaker)
        return out

    assert gmp.run(main) == [42, 2, "failed", "failed", "db"]


def test_cancellation_inside_gmp_is_not_a_failure() -> None:
    b = CircuitBreaker("svc", failure_ratio=None, consecutive_failures=1)

    @b
    async def slow() -> None:
        await gmp.sleep(3600)

    async def main() -> State:
        with gmp.move_on_after(0.01):
            await slow()
        return b.state

    assert gmp.run(main) is State.CLOSED


@pytest.mark.parametrize(
    ("kw", "exc", "word"),
    [
        ({"failure_ratio": 0}, ValueError, "failure_ratio"),
        ({"failure_ratio": 1.5}, ValueError, "failure_ratio"),
        ({"failure_ratio": float("nan")}, ValueError, "failure_ratio"),
        ({"failure_ratio": None}, ValueError, "never trips"),
        ({"min_calls": 0}, ValueError, "min_calls"),
        ({"consecutive_failures": 0}, ValueError, "consecutive_failures"),
        ({"window": -1}, ValueError, "window"),
        ({"buckets": 0}, ValueError, "buckets"),
        ({"cooldown": float("inf")}, ValueError, "cooldown"),
        ({"half_open_max_calls": 0}, ValueError, "half_open_max_calls"),
        ({"success_threshold": 1.0}, TypeError, "success_threshold"),
        ({"failure_on": (int,)}, TypeError, "failure_on"),
        ({"ignore": "x"}, TypeError, "ignore"),
        ({"clock": 3}, TypeError, "clock"),
    ],
)
def test_bad_arguments_name_the_argument(kw: Any, exc: Any, word: str) -> None:
    with pytest.raises(exc, match=word):
        CircuitBreaker("x", **kw)
    with pytest.raises(TypeError, match="name"):
        CircuitBreaker("")
