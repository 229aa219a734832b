"""``TokenBucket._take`` (RateLimit's inline path, and ``try_acquire``'s common answer)
against the general path (the rate limiter's ``_decide``, which ``try_acquire`` takes for
every other case): fed the same (time, cost) events, they agree on every answer and leave
the same state, and ``try_acquire`` agrees with both."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from resilience_fakes import FakeClock

from gmp.resilience import Decision, TokenBucket

events = st.lists(
    st.tuples(
        st.one_of(st.just(0.0), st.floats(0.0, 5.0), st.floats(-1.0, 0.0)),  # clock step
        st.integers(1, 12),  # cost (a burst up to 8 below: some costs never fit)
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.one_of(st.floats(0.01, 100.0), st.sampled_from([0.5, 1.0, 1e9])),
    burst=st.integers(1, 8),
    steps=events,
)
def test_take_answers_as_try_acquire(rate, burst, steps):
    clock_a, clock_b = FakeClock(1000.0), FakeClock(1000.0)
    a = TokenBucket(rate, burst, clock=clock_a)
    b = TokenBucket(rate, burst, clock=clock_b)
    clock_c = FakeClock(1000.0)
    c = TokenBucket(rate, burst, clock=clock_c)
    general = super(TokenBucket, a).try_acquire
    for step, cost in steps:
        clock_a.advance(step)  # a clock that steps back too: both clamp it
        clock_b.advance(step)
        clock_c.advance(step)
        if cost > burst:
            with pytest.raises(ValueError) as ea:
                general(cost)
            with pytest.raises(ValueError) as eb:
                b._take(cost)
            with pytest.raises(ValueError) as ec:
                c.try_acquire(cost)
            assert str(ea.value) == str(eb.value) == str(ec.value)
            continue
        want = general(cost)
        got = b._take(cost)
        assert c.try_acquire(cost) == want
        if type(got) is Decision:  # refused: the general path's own Decision
            assert got == want and not got.allowed
        else:
            remaining, reset = got
            assert (True, cost, burst, remaining, 0.0, reset, 0.0) == tuple(want)
        state = (a._tokens, a._last, a._reserved)
        assert state == (b._tokens, b._last, b._reserved) == (c._tokens, c._last, c._reserved)


def test_take_reads_the_clock_once_a_decision():
    reads = []

    def clock() -> float:
        reads.append(1)
        return 1000.0 + len(reads)  # moves on every reading

    b = TokenBucket(0.1, 1, clock=clock)
    assert type(b._take(1)) is tuple
    refused = b._take(1)  # the general path, at the same reading
    assert type(refused) is Decision and not refused.allowed
    assert len(reads) == 2
