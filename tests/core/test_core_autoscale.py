"""The autoscaler's pure policy: bounds, hysteresis, cool-down, growth and shrinking."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gmp._core.autoscale import Autoscale, Autoscaler, Sample

FAST = settings(max_examples=300, derandomize=True, database=None, deadline=None)


def high(now: float, procs: int) -> Sample:
    return Sample(now=now, procs=procs, utilisation=1.0, runnable=100 * procs)


def low(now: float, procs: int) -> Sample:
    return Sample(now=now, procs=procs, utilisation=0.0, runnable=0)


def band(now: float, procs: int) -> Sample:
    return Sample(now=now, procs=procs, utilisation=0.5, runnable=0)


def drive(a: Autoscaler, kinds: str, procs: int, dt: float = 0.05) -> list[int]:
    """Feed samples ('h', 'l', 'b') one interval apart, applying each decision."""
    out = []
    make = {"h": high, "l": low, "b": band}
    for i, k in enumerate(kinds):
        procs = a.observe(make[k]((i + 1) * dt, procs))
        out.append(procs)
    return out


def test_defaults_are_valid_and_clamp() -> None:
    c = Autoscale()
    assert c.min_procs == 1 and c.max_procs == 8
    assert c.clamp(0) == 1 and c.clamp(99) == 8 and c.clamp(3) == 3


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"min_procs": 0}, ValueError, "min_procs"),
        ({"max_procs": 2000}, ValueError, "at most 1024"),
        ({"min_procs": 4, "max_procs": 2}, ValueError, "must not exceed"),
        ({"min_procs": 1.5}, TypeError, "min_procs must be an int"),
        ({"interval": 0}, ValueError, "interval"),
        ({"cooldown": -1}, ValueError, "cooldown"),
        ({"grow_after": 0}, ValueError, "grow_after"),
        ({"low_utilisation": 0.8, "high_utilisation": 0.8}, ValueError, "hysteresis"),
        ({"high_utilisation": 1.5}, ValueError, "high_utilisation"),
        ({"backlog_per_proc": "x"}, TypeError, "backlog_per_proc"),
        ({"grow_factor": 0.5}, ValueError, "grow_factor"),
        ({"min_gain": 2}, ValueError, "min_gain"),
        ({"backoff": -1}, ValueError, "backoff"),
    ],
)
def test_bad_configs_are_rejected(kwargs: dict[str, object], exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        Autoscale(**kwargs)  # type: ignore[arg-type]


def test_grows_after_k_high_samples_and_not_before() -> None:
    a = Autoscaler(Autoscale(min_procs=1, max_procs=4, grow_after=3, cooldown=0))
    assert drive(a, "hh", 1) == [1, 1]
    assert drive(a, "h", 1) == [2]


def test_a_band_sample_breaks_the_streak() -> None:
    a = Autoscaler(Autoscale(max_procs=4, grow_after=3, cooldown=0))
    assert drive(a, "hhbhh", 1) == [1, 1, 1, 1, 1]
    assert drive(a, "h", 1) == [2]


def test_busy_ps_with_nothing_queued_do_not_grow() -> None:
    a = Autoscaler(Autoscale(max_procs=4, grow_after=1, cooldown=0))
    s = Sample(now=1.0, procs=2, utilisation=1.0, runnable=1)
    assert a.classify(s) == 0
    assert a.observe(s) == 2


def test_shrinks_after_m_low_samples_down_to_the_floor() -> None:
    a = Autoscaler(Autoscale(min_procs=2, max_procs=8, shrink_after=4, cooldown=0))
    out = drive(a, "l" * 40, 6)
    assert out[:4] == [6, 6, 6, 5]
    assert out[-1] == 2 and min(out) == 2


def test_cooldown_spaces_changes_in_time() -> None:
    a = Autoscaler(Autoscale(max_procs=8, grow_after=1, cooldown=0.5))
    out = drive(a, "h" * 30, 1, dt=0.1)
    changes = [i for i in range(1, len(out)) if out[i] != out[i - 1]]
    assert out[0] == 2
    assert all(b - a_ >= 5 for a_, b in itertools.pairwise(changes))


def test_a_count_outside_the_bounds_is_brought_back_at_once() -> None:
    a = Autoscaler(Autoscale(min_procs=2, max_procs=4))
    assert a.observe(band(0.0, 9)) == 4
    assert a.observe(band(0.0, 1)) == 2


@st.composite
def configs(draw: st.DrawFn) -> Autoscale:
    lo = draw(st.integers(1, 6))
    hi = draw(st.integers(lo, 10))
    low_u = draw(st.floats(0.0, 0.6))
    return Autoscale(
        min_procs=lo,
        max_procs=hi,
        grow_after=draw(st.integers(1, 5)),
        shrink_after=draw(st.integers(1, 8)),
        cooldown=draw(st.sampled_from([0.0, 0.05, 0.2, 1.0])),
        low_utilisation=low_u,
        high_utilisation=draw(st.floats(low_u + 0.01, 1.0)),
        backlog_per_proc=draw(st.sampled_from([0.0, 1.0, 4.0])),
        grow_step=draw(st.integers(1, 3)),
        shrink_step=draw(st.integers(1, 3)),
        grow_factor=draw(st.sampled_from([1.0, 1.5, 2.0, 4.0])),
        min_gain=draw(st.sampled_from([0.0, 0.25, 0.9])),
        backoff=draw(st.sampled_from([0.0, 1.0, 5.0])),
    )


samples = st.tuples(
    st.floats(0.001, 0.5),  # time since the previous sample
    st.floats(0.0, 1.0),  # utilisation
    st.integers(0, 200),  # runnable
    st.sampled_from([0.0, 100.0, 150.0, 400.0]),  # rate
)


@FAST
@given(configs(), st.integers(1, 12), st.lists(samples, max_size=120))
@example(  # hypothesis on 3.13t: a growth judged (and undone) at a band sample
    c=Autoscale(
        min_procs=1,
        max_procs=2,
        interval=0.05,
        grow_after=1,
        shrink_after=1,
        cooldown=1.0,
        high_utilisation=1.0,
        low_utilisation=0.0,
        backlog_per_proc=0.0,
        grow_step=1,
        shrink_step=1,
        grow_factor=1.0,
        min_gain=0.25,
        backoff=0.0,
    ),
    start=1,
    seq=[(0.5, 1.0, 0, 100.0), (0.5, 1.0, 0, 0.0), (0.5, 0.0, 1, 0.0)],
)
def test_invariants_bounds_hysteresis_and_steps(
    c: Autoscale, start: int, seq: list[tuple[float, float, int, float]]
) -> None:
    a = Autoscaler(c)
    procs = start
    now = 0.0
    last_change: float | None = None
    last_was_growth_from: int | None = None
    capped: tuple[int, float] | None = None  # (ceiling, until) after a revert
    since_change = 0
    for dt, util, runnable, rate in seq:
        now += dt
        s = Sample(now=now, procs=procs, utilisation=util, runnable=runnable, rate=rate)
        kind = a.classify(s)
        target = a.observe(s)
        since_change += 1
        assert c.min_procs <= target <= c.max_procs
        if target == procs:
            continue
        grew_from = None
        if c.min_procs <= procs <= c.max_procs:
            # Every change needs the cool-down and a full streak of samples, all taken
            # since the previous change.
            assert last_change is None or now - last_change >= c.cooldown
            if target > procs:
                assert kind > 0 and since_change >= c.grow_after
                assert target <= max(procs + c.grow_step, math.ceil(procs * c.grow_factor))
                if capped is not None and now < capped[1]:
                    assert target <= capped[0]
                grew_from = procs
            elif kind >= 0:
                # Undoing a growth that did not pay: back to where it grew from. Judged at
                # the first sample after the cool-down that is not low, on the high ones
                # the trial gathered (during the cool-down, they may all be).
                assert last_was_growth_from == target and since_change >= c.grow_after
                capped = (target, now + c.backoff)
            else:
                assert kind < 0 and since_change >= c.shrink_after
                assert procs - target <= c.shrink_step
        last_change = now
        last_was_growth_from = grew_from
        since_change = 0
        procs = target


@FAST
@given(configs(), st.integers(1, 12))
def test_sustained_backlog_grows_to_the_ceiling(c: Autoscale, start: int) -> None:
    a = Autoscaler(c)
    procs = start
    now = 0.0
    for _ in range(c.max_procs * (c.grow_after + 25) + 2):
        now += 0.05
        # A scheduling rate that scales with the Ps: every growth pays.
        s = high(now, procs)
        procs = a.observe(Sample(s.now, s.procs, s.utilisation, s.runnable, rate=100.0 * procs))
    assert procs == c.max_procs


@FAST
@given(configs(), st.integers(1, 12))
def test_sustained_idleness_shrinks_to_the_floor(c: Autoscale, start: int) -> None:
    a = Autoscaler(c)
    procs = start
    now = 0.0
    for _ in range(12 * (c.shrink_after + 25) + 2):
        now += 0.05
        procs = a.observe(low(now, procs))
    assert procs == c.min_procs


def test_a_growth_that_does_not_raise_the_rate_is_undone_and_backs_off() -> None:
    # GIL-bound: busy Ps and a backlog, but the same scheduling rate whatever the P count.
    c = Autoscale(max_procs=8, grow_after=2, cooldown=0.1, backoff=5.0)
    a = Autoscaler(c)
    procs, now, seen = 1, 0.0, []
    for _ in range(600):  # 30 s of samples
        now += 0.05
        procs = a.observe(Sample(now, procs, 1.0, 100, rate=1000.0))
        seen.append(procs)
    assert max(seen) == 2  # it tried 2 Ps, never more
    grows = sum(1 for x, y in itertools.pairwise([1, *seen]) if y > x)
    assert 1 <= grows <= 30 / 5 + 1  # at most one try per back-off period
    assert a.reverts in (grows, grows - 1)
    assert sum(1 for p in seen if p == 1) > 0.9 * len(seen)


def test_a_growth_that_raises_the_rate_stands() -> None:
    c = Autoscale(max_procs=8, grow_after=2, cooldown=0.1)
    a = Autoscaler(c)
    procs, now = 1, 0.0
    for _ in range(100):
        now += 0.05
        procs = a.observe(Sample(now, procs, 1.0, 100, rate=300.0 * procs))
    assert procs == 8 and a.reverts == 0


def gil_bound(now: float, procs: int, gil: float = 1.0, cpu: float = 1.0) -> Sample:
    """Busy Ps with a backlog, the interpreter held: pure Python under the GIL."""
    return Sample(now, procs, 1.0, 100 * procs, rate=1000.0, cpu=cpu, cpus=2, gil=gil)


def test_the_headroom_rule_never_tries_a_growth_the_gil_rules_out() -> None:
    """Laws: with the interpreter held a share h of the time (the lower of ``gil`` and
    ``cpu``), no growth whose required gain exceeds 1/h - 1 starts; a load with the GIL
    free (hashing: cpu high, gil low) or waiting off the CPU (blocking on a loaded
    machine: gil high, cpu low) still grows, and min_gain=0 turns the rule off."""
    a = Autoscaler(Autoscale(max_procs=8, grow_after=2, cooldown=0.1))
    procs, now = 1, 0.0
    for _ in range(200):
        now += 0.05
        procs = a.observe(gil_bound(now, procs))
    assert procs == 1 and a.changes == 0 and a.reverts == 0 and a.refusals == 199
    # Hashing with the GIL released, one P on two CPUs: room to double.
    a = Autoscaler(Autoscale(max_procs=8, grow_after=2, cooldown=0.1))
    assert [a.observe(gil_bound(t, 1, gil=0.01)) for t in (0.05, 0.1)] == [1, 2]
    # Blocking calls on a machine so loaded that sysmon wakes late: the Ms barely run.
    a = Autoscaler(Autoscale(max_procs=8, grow_after=2, cooldown=0.1))
    assert [a.observe(gil_bound(t, 1, gil=1.0, cpu=0.05)) for t in (0.05, 0.1)] == [1, 2]
    a = Autoscaler(Autoscale(max_procs=8, grow_after=2, cooldown=0.1, min_gain=0.0))
    assert [a.observe(gil_bound(t, 1)) for t in (0.05, 0.1)] == [1, 2]


def test_the_headroom_rule_caps_growth_at_the_cpus() -> None:
    """Law: Ms that already want every CPU cannot gain from more Ps (2 Ps hashing on 2
    CPUs); wanting half of them leaves room to double the rate, so a growth p -> t goes
    no further than min_gain * (t/p - 1) <= 1 (t <= 10 from 2 with min_gain 0.25)."""
    a = Autoscaler(Autoscale(max_procs=8, grow_after=1, cooldown=0.0))
    assert a.observe(Sample(0.05, 2, 1.0, 200, rate=1000.0, cpu=2.0, cpus=2)) == 2
    assert a.refusals == 1
    a = Autoscaler(Autoscale(max_procs=8, grow_after=1, cooldown=0.0, grow_factor=4.0))
    assert a.observe(Sample(0.05, 1, 1.0, 200, rate=1000.0, cpu=1.0, cpus=4)) == 4
    a = Autoscaler(Autoscale(max_procs=16, grow_after=1, cooldown=0.0, grow_factor=8.0))
    assert a.observe(Sample(0.05, 2, 1.0, 200, rate=1000.0, cpu=2.0, cpus=4)) == 10


def test_one_noisy_sample_does_not_open_the_headroom() -> None:
    """Law: the headroom comes from the streak's mean, so one sample that saw the
    interpreter free 25% of the time among GIL-bound ones does not start a trial."""
    a = Autoscaler(Autoscale(max_procs=8, grow_after=2, cooldown=0.1))
    assert a.observe(gil_bound(0.05, 1, gil=1.0)) == 1
    assert a.observe(gil_bound(0.10, 1, gil=0.75)) == 1
    assert a.headroom([gil_bound(0.0, 1, gil=0.75)]) == pytest.approx(1 / 3)
    assert a.headroom([high(0.0, 1)]) == math.inf  # nothing measured, nothing bounded


def test_a_band_sample_during_a_trial_neither_judges_nor_ends_it() -> None:
    """Law: after a growth, a sample in the band (the new P's M still starting) is
    skipped; the trial is judged on its grow_after high samples and undone if flat."""
    a = Autoscaler(Autoscale(max_procs=8, grow_after=2, cooldown=0.1))
    seq = [high(0.05, 1), high(0.10, 1)]
    assert [a.observe(Sample(s.now, s.procs, 1.0, 100, rate=1000.0)) for s in seq] == [1, 2]
    assert a.observe(Sample(0.15, 2, 0.5, 100, rate=1000.0)) == 2
    assert a.trial is not None
    assert a.observe(Sample(0.20, 2, 1.0, 100, rate=1000.0)) == 2
    assert a.observe(Sample(0.25, 2, 1.0, 100, rate=1000.0)) == 1
    assert a.reverts == 1


def test_a_cpu_reading_near_zero_grows_without_overflowing_the_headroom() -> None:
    """cpus/cpu for a subnormal cpu is finite, but the bound built from it overflows to
    inf (hypothesis found cpu=1e-308): it bounds nothing and must not break observe."""
    a = Autoscaler(Autoscale(max_procs=2, grow_after=1, cooldown=0.0, min_gain=0.25))
    s = Sample(0.05, 1, 1.0, 100, rate=1000.0, cpu=1.1125369292536007e-308, cpus=1, gil=0.0)
    assert a.headroom([s]) > 1e300
    assert a.observe(s) == 2


@FAST
@given(
    configs(),
    st.integers(1, 12),
    st.lists(
        st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 16.0), st.integers(0, 16)),
        min_size=1,
        max_size=60,
    ),
)
def test_invariant_no_growth_past_the_headroom(
    c: Autoscale, start: int, seq: list[tuple[float, float, int]]
) -> None:
    """Law: every growth p -> t satisfies min_gain * (t/p - 1) <= headroom of the streak
    that asked for it (for min_gain > 0); the bounds still hold."""
    a = Autoscaler(c)
    procs, now = c.clamp(start), 0.0
    for gil, cpu, cpus in seq:
        now += 0.05
        s = Sample(now, procs, 1.0, 100 * procs, rate=1000.0, cpu=cpu, cpus=cpus, gil=gil)
        streak = [*a.streak, s][-c.grow_after :]
        room = a.headroom(streak)
        target = a.observe(s)
        assert c.min_procs <= target <= c.max_procs
        if target > procs and c.min_gain > 0:
            assert c.min_gain * (target / procs - 1.0) <= room + 1e-9
        procs = target
