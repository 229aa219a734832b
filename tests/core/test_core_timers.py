"""Per-P timer heaps with lazy cancel (Go's p.timers, time.go)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gmp._core import Timer, TimerHeap
from gmp._core.timers import CANCELLED, FIRED, PENDING

FAST = settings(max_examples=150, derandomize=True, database=None, deadline=None)


def test_an_empty_heap_is_falsy_and_has_no_next_when() -> None:
    h = TimerHeap()
    assert not h
    assert len(h) == 0
    assert h.next_when() is None
    assert h.pop_due(1e9) == []
    assert h.live() == 0


def test_timers_fire_in_when_order() -> None:
    h = TimerHeap()
    for when in [5.0, 1.0, 3.0, 2.0, 4.0]:
        h.add(when, f"t{when:g}")
    assert h.next_when() == 1.0
    assert h.pop_due(10.0) == ["t1", "t2", "t3", "t4", "t5"]
    assert not h


def test_equal_when_timers_fire_in_insertion_order() -> None:
    h = TimerHeap()
    for name in "abcde":
        h.add(1.0, name)
    assert h.pop_due(1.0) == list("abcde")


def test_pop_due_fires_only_timers_at_or_before_now() -> None:
    h = TimerHeap()
    early, on_time, late = h.add(1.0, "early"), h.add(2.0, "on time"), h.add(3.0, "late")
    assert h.pop_due(0.5) == []
    assert h.pop_due(2.0) == ["early", "on time"], "a timer is due when when <= now"
    assert early.state == FIRED
    assert on_time.state == FIRED
    assert late.pending
    assert h.next_when() == 3.0
    assert len(h) == 1


def test_cancel_stops_a_pending_timer_once() -> None:
    h = TimerHeap()
    t = h.add(1.0, "x")
    assert t.pending
    assert t.cancel() is True
    assert t.state == CANCELLED
    assert not t.pending
    assert t.cancel() is False, "a second Stop reports that the timer was already stopped"
    assert h.pop_due(5.0) == []


def test_cancel_after_firing_reports_false_and_keeps_fired_state() -> None:
    h = TimerHeap()
    t = h.add(1.0, "x")
    assert h.pop_due(1.0) == ["x"]
    assert t.cancel() is False
    assert t.state == FIRED


def test_cancel_is_lazy_the_entry_stays_until_it_reaches_the_top() -> None:
    h = TimerHeap()
    first = h.add(1.0, "first")
    h.add(2.0, "second")
    first.cancel()
    assert len(h) == 2, "len counts cancelled entries not yet dropped"
    assert h.live() == 1
    assert h.next_when() == 2.0, "next_when skips (and drops) a cancelled top"
    assert len(h) == 1


def test_a_heap_of_only_cancelled_timers_is_truthy_until_touched() -> None:
    h = TimerHeap()
    h.add(1.0, "x").cancel()
    assert h, "bool is a cheap, conservative check"
    assert h.live() == 0
    assert h.next_when() is None
    assert not h


def test_cancelled_due_timers_are_dropped_by_pop_due() -> None:
    h = TimerHeap()
    h.add(1.0, "a").cancel()
    h.add(1.5, "b")
    h.add(3.0, "c").cancel()
    assert h.pop_due(2.0) == ["b"]
    assert len(h) == 1
    assert h.live() == 0


def test_drain_returns_live_timers_and_empties_the_heap() -> None:
    h = TimerHeap()
    a = h.add(2.0, "a")
    h.add(1.0, "b").cancel()
    c = h.add(3.0, "c")
    live = h.drain()
    assert sorted(live, key=lambda t: t.when) == [a, c]
    assert not h
    assert all(t.pending for t in live), "drained timers can be pushed onto another P"


def test_push_moves_a_pending_timer_to_another_heap() -> None:
    src, dst = TimerHeap(), TimerHeap()
    t = src.add(4.0, "moved")
    dst.add(5.0, "other")
    for moved in src.drain():
        dst.push(moved)
    assert dst.next_when() == 4.0
    assert dst.pop_due(4.0) == ["moved"]
    assert t.state == FIRED


def test_timer_keeps_when_and_payload() -> None:
    payload = object()
    t = Timer(7.5, payload)
    assert t.when == 7.5
    assert t.payload is payload
    assert t.state == PENDING


@FAST
@given(
    entries=st.lists(
        st.tuples(st.integers(0, 50), st.booleans()),
        max_size=60,
    ),
    now=st.integers(0, 60),
)
def test_pop_due_returns_every_live_due_timer_once_sorted_by_when_then_insertion(
    entries: list[tuple[int, bool]], now: int
) -> None:
    h = TimerHeap()
    timers = []
    for i, (when, cancel) in enumerate(entries):
        t = h.add(float(when), i)
        if cancel:
            t.cancel()
        timers.append(t)

    expected = sorted(
        (i for i, (when, cancel) in enumerate(entries) if not cancel and when <= now),
        key=lambda i: (entries[i][0], i),
    )
    assert h.pop_due(float(now)) == expected
    remaining = [when for when, cancel in entries if not cancel and when > now]
    assert h.live() == len(remaining)
    assert h.next_when() == (float(min(remaining)) if remaining else None)
    assert h.pop_due(float(now)) == [], "nothing fires twice"


def test_cancelled_far_timers_do_not_pile_up() -> None:
    """A deadline set and cancelled at once, far in the future, again and again (a
    request timeout): the heap stays within twice its live timers plus a constant."""
    from gmp._core.timers import TimerHeap

    heap = TimerHeap()
    keep = [heap.add(1_000_000.0 + i, i) for i in range(10)]
    for i in range(100_000):
        heap.add(5.0 + i * 1e-6, "deadline").cancel()
        assert len(heap) <= 2 * len(keep) + 64 + 1
    assert heap.next_when() == 1_000_000.0
    assert heap.pop_due(2_000_000.0) == list(range(10))


def test_compaction_keeps_firing_order() -> None:
    from gmp._core.timers import TimerHeap

    heap = TimerHeap()
    live = []
    for i in range(1000):
        t = heap.add(float(i % 37), i)
        if i % 3:
            t.cancel()
        else:
            live.append(i)
    heap.compact()
    fired = heap.pop_due(100.0)
    assert fired == sorted(live, key=lambda i: (i % 37, i))
