"""The M's own look at its time slice (gmp._core.preempt.safe_point_look), in virtual time.

One P runs a G that passes safe points without parking; each safe point counts down
``p.safe_points`` and, when the count is spent, asks ``p.preempt or safe_point_look``,
as the runtime's safe points do (gmp.chan, gmp.sync, gmp.runtime.park). A preempted G
goes to the global tail and the next G starts a fresh slice. sysmon looks now and then
(``slice_expired`` on its own record). Hypothesis drives batches of safe points, new
slices and sysmon looks.

Laws:

- **Never early.** A safe point gives up the P only when the slice has run at least
  ``TIMESLICE``: the own look stamps a slice no earlier than it began, and sysmon's
  rule is the same.
- **Never much later without sysmon.** With safe points at most ``MAXDT`` apart, a
  slice is given up by the time it has run ``TIMESLICE + 2 * SAFE_POINT_LOOK * MAXDT``:
  the own look first sees it within one count, and sees it over within one more.
- **sysmon's request is honoured at the next safe point.** ``slice_expired`` zeroes the
  count when it sets ``p.preempt``.
- **Separate records.** The own look never writes sysmon's record (``p.sysmon_slice``),
  and sysmon's look never writes the M's (``p.own_slice``).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gmp._core.g import G, GStatus
from gmp._core.p import SAFE_POINT_LOOK
from gmp._core.place import gopreempt, goready
from gmp._core.preempt import safe_point_look, slice_expired
from gmp._core.sched import Sched, find_runnable

TIMESLICE = 10_000
MAXDT = 40
LATEST = TIMESLICE + 2 * SAFE_POINT_LOOK * MAXDT

events = st.lists(
    st.one_of(
        st.tuples(st.just("safe"), st.integers(1, 3 * SAFE_POINT_LOOK), st.integers(0, MAXDT)),
        st.tuples(st.just("park"), st.just(0), st.just(0)),
        st.tuples(st.just("sysmon"), st.just(0), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(events)
def test_safe_point_looks_keep_slices_between_their_bounds(evs: list[tuple[str, int, int]]) -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.m = object()
    gs = [G(i) for i in range(1, 4)]
    for g in gs:
        g.status = GStatus.WAITING
        goready(sched, p, g)
    now = 0
    cur, inherit = find_runnable(sched, p, None)
    start = now
    for kind, n, dt in evs:
        assert cur is not None
        if kind == "park":
            # The G parks and a parked one is readied: the next pick is a fresh slice
            # or an inherited one (runnext), as find_runnable decides.
            cur.status = GStatus.WAITING
            goready(sched, p, cur)
            cur, inherit = find_runnable(sched, p, None)
            if not inherit:
                start = now
            continue
        if kind == "sysmon":
            own = (p.own_slice.schedtick, p.own_slice.when)
            if slice_expired(p, now, TIMESLICE):
                assert p.safe_points == 0, "sysmon's request left the count standing"
            assert (p.own_slice.schedtick, p.own_slice.when) == own, "sysmon wrote the M's record"
            continue
        for _ in range(n):
            now += dt
            p.safe_points = left = p.safe_points - 1
            sysmon_asked = p.preempt
            theirs = (p.sysmon_slice.schedtick, p.sysmon_slice.when)
            due = left <= 0 and (p.preempt or safe_point_look(p, now, TIMESLICE))
            assert (p.sysmon_slice.schedtick, p.sysmon_slice.when) == theirs, (
                "the own look wrote sysmon's record"
            )
            if sysmon_asked:
                assert due, "sysmon's request was not honoured at the next safe point"
            if due:
                assert now - start >= TIMESLICE, f"preempted after {now - start} of {TIMESLICE}"
                gopreempt(sched, p, cur)  # type: ignore[arg-type]
                cur, inherit = find_runnable(sched, p, None)
                assert not inherit  # from the global queue: a fresh slice
                start = now
            else:
                assert now - start < LATEST, f"a slice ran {now - start}, bound {LATEST}"
