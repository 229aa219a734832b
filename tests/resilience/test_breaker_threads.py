"""Threads racing through one breaker: half-open never admits more probes than allowed,
and closed-state counts add up exactly."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
from resilience_fakes import FakeClock

from gmp.resilience import CircuitBreaker, CircuitOpenError, State

THREADS = 16


@pytest.fixture(autouse=True)
def fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def run_threads(target: object) -> None:
    errors: list[BaseException] = []

    def wrapped() -> None:
        try:
            target()  # type: ignore[operator]
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=wrapped) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors


@pytest.mark.parametrize("max_probes", [1, 3])
def test_half_open_never_admits_more_than_max_probes_at_once(max_probes: int) -> None:
    clock = FakeClock(0.0)
    b = CircuitBreaker(
        "hot",
        failure_ratio=None,
        consecutive_failures=1,
        cooldown=1.0,
        half_open_max_calls=max_probes,
        success_threshold=10**9,  # stays half-open on successes
        clock=clock,
    )
    b.allow().failure()
    clock.advance(1.0)
    in_flight = 0
    peak = 0
    admitted = 0
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker() -> None:
        nonlocal in_flight, peak, admitted
        start.wait(timeout=30)
        for i in range(300):
            try:
                ticket = b.allow()
            except CircuitOpenError:
                continue
            # Counted after the slot was taken and uncounted before it is given back,
            # so this count can only under-estimate the slots in use.
            with lock:
                in_flight += 1
                admitted += 1
                peak = max(peak, in_flight)
            assert ticket.probe
            with lock:
                in_flight -= 1
            if i % 3 == 0:
                ticket.release()
            else:
                ticket.success()

    run_threads(worker)
    assert 0 < peak <= max_probes
    assert admitted > 0
    c = b.counts()
    assert c.state is State.HALF_OPEN and c.probes_in_flight == 0
    assert c.rejected + admitted == THREADS * 300


def test_probe_failures_from_many_threads_reopen_once_per_round() -> None:
    clock = FakeClock(0.0)
    b = CircuitBreaker(
        "flaky",
        failure_ratio=None,
        consecutive_failures=1,
        cooldown=1.0,
        half_open_max_calls=2,
        clock=clock,
    )
    opens: list[float] = []
    b.on_state_change(lambda c: opens.append(c.at) if c.to_state is State.OPEN else None)
    b.allow().failure()
    clock.advance(1.0)
    probes = 0
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker() -> None:
        nonlocal probes
        start.wait(timeout=30)
        for _ in range(100):
            try:
                ticket = b.allow()
            except CircuitOpenError:
                continue
            with lock:
                probes += 1
            ticket.failure()

    run_threads(worker)
    # One round of half-open on a frozen clock: at most two probes, then open for good.
    assert 1 <= probes <= 2
    assert b.state is State.OPEN and len(opens) == 2


def test_closed_counts_add_up_exactly() -> None:
    b = CircuitBreaker("count", min_calls=10**9, clock=FakeClock(3.0))

    def worker() -> None:
        for i in range(500):
            with b.allow() as t:
                if i % 5 == 0:
                    t.failure()

    run_threads(worker)
    c = b.counts()
    assert (c.successes, c.failures) == (THREADS * 400, THREADS * 100)
    assert c.state is State.CLOSED
