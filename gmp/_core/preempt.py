"""Time slices: when sysmon asks a G to yield and when it hands the P to another M.

Go's sysmon (``retake`` in proc.go) watches two counters per P. ``schedtick`` moves when a
G starts a fresh time slice; a G taken from ``runnext`` inherits the slice instead
(``inheritTime``), so a token-passing pair counts as one G. If ``schedtick`` has not moved
for ``forcePreemptNS`` (10 ms), sysmon asks the running G to stop (``preemptone``) and the
G goes to the global queue's tail at its next safe point (``gopreempt_m``). A P whose M sits
in a system call too long is handed to another M (``handoffp``).

gmp's safe points are traps: every await into the runtime, including the ones that
complete without parking (a channel operation that finds a partner, ``select`` with a
default, a join of a finished G, the return from a blocking call). The rules:

- :func:`slice_expired` is sysmon's half: it sets ``p.preempt`` once the slice is over and
  keeps setting it on every look until ``schedtick`` moves, as Go's retake does.
- :func:`gmp._core.place.preempt_due` is the trap's half; a G that sees it goes to the
  global tail through :func:`gmp._core.place.gopreempt`.
- :func:`safe_point_look` is the same look taken by the P's own M every
  :data:`~gmp._core.p.SAFE_POINT_LOOK` safe points that did not reach it (not in Go:
  under the GIL sysmon's looks come late, see there).
- A G that parks instead leaves the flag set; :func:`gmp._core.sched.find_runnable` then
  takes runnext's privilege away (it joins the local tail and no slice is inherited).
- :func:`stuck` says when an M has held its P for too long in one step. For a blocking
  call that is ``syscall_after`` (Go: one sysmon tick, 20 us to 10 ms), or one sysmon
  tick when the M's thread is seen off the CPU (it waits, holding no GIL). For a coroutine
  that computes it is :func:`hog_after`: a whole slice, then a preemption request, then two
  more slices to reach a trap. Under the GIL a second M beside a computing G mostly
  contends for the interpreter, so gmp prefers preemption at the next trap and hands the
  P off only to a G that never reaches one (Go preempts such a G with a signal instead).

The fields these read and write are sysmon's own (``sysmon_*``) or hints (``preempt``):
sysmon reads the ticks without the scheduler lock, each read a single attribute load, and
re-checks under the lock before it acts (see ``gmp/runtime/sysmon.py``).
"""

from __future__ import annotations

from gmp._core.p import SAFE_POINT_LOOK, P, PStatus, SliceLook

_SYSCALL = PStatus.SYSCALL


def hog_after(syscall_after: float, timeslice: float) -> float:
    """How long a coroutine G may compute without reaching a trap before its P is handed
    off: its slice, then a grace of two slices (at least ``syscall_after``) to reach a
    trap once preemption is requested. 30 ms by default: a spinning coroutine still
    costs the P's other Gs well under the 60 ms bar, and a G that does reach traps is
    not handed off when the OS deschedules its thread for a while on a loaded machine
    (sysmon cannot tell that from computing; with one slice of grace, 1 run in 3 saw a
    spurious handoff at a load average of 4 on 2 cores)."""
    return timeslice + max(syscall_after, 2 * timeslice)


def slice_observe(p: P, now: float) -> None:
    """Record a new time slice if ``schedtick`` moved since sysmon's last look."""
    look = p.sysmon_slice
    schedtick = p.schedtick
    if schedtick != look.schedtick:
        look.schedtick = schedtick
        look.when = now


def slice_expired(p: P, now: float, timeslice: float, look: SliceLook | None = None) -> bool:
    """Sysmon's look at a running P's time slice (Go's retake ``schedwhen`` test).

    Sets ``p.preempt`` and returns True when the same slice has run ``timeslice`` seconds
    since the watcher first saw it; keeps doing so on each look until a G starts a new
    slice. ``look``: the watcher's record (default: sysmon's, ``p.sysmon_slice``).
    """
    if look is None:
        look = p.sysmon_slice
    schedtick = p.schedtick
    if schedtick != look.schedtick:
        look.schedtick = schedtick
        look.when = now
        return False
    if now - look.when >= timeslice:
        p.preempt = True
        p.safe_points = 0  # the next safe point looks at once (see safe_point_look)
        return True
    return False


def safe_point_look(p: P, now: float, timeslice: float) -> bool:
    """The P's own M looks at its time slice, every :data:`SAFE_POINT_LOOK` safe points
    its G passed without reaching the M: :func:`slice_expired`'s rule on the M's own
    record (``p.own_slice``). Returns whether the slice is over (``p.preempt`` is then
    set, and the safe point yields as if sysmon had asked).

    Go leaves the clock to sysmon, which runs beside the Ms. Under the GIL sysmon is one
    more thread waiting for the interpreter, and beside two Ms computing Python its
    looks came 5.6 ms apart at the median, 22 ms at the 90th percentile and up to 31 ms
    (``bench.hog``'s trap hogs at procs=2): a slice is first seen late, then judged over
    a look or two late, and the first preemption of either P came 27-42 ms (once 110 ms)
    after a G behind the hogs was due, against 14 ms at procs=1. The M holds the GIL
    whenever its G passes a safe point, so it can read the clock then; counting safe
    points keeps the read to one in :data:`SAFE_POINT_LOOK`. With it, a G behind the
    trap hogs waited 7.7-8.2 ms at procs=1 (medians of 15 rounds, four runs; 13.9-14.0
    before) and 10.9-16.4 ms at procs=2 (28.6-37.1 before). The count costs every safe
    point that does not park: a channel ping-pong round trip (four safe points) 43.6k
    -> 44.7k instructions (callgrind, procs=1, slices too long to end). A G that passes
    few safe points is left to sysmon, as before.
    """
    p.safe_points = SAFE_POINT_LOOK
    return slice_expired(p, now, timeslice, p.own_slice)


OFF_CPU_AFTER = 0.0005
"""How long a blocking call must have been seen off the CPU before its P is handed off
without waiting for ``syscall_after`` (:func:`stuck`)."""

OFF_CPU_SHARE = 0.25
"""A thread that used less than this share of the wall time since sysmon's first look is
waiting (a socket, a lock, ``time.sleep``, a C call that released the GIL), not computing."""

PREEMPT_GRACE_CPU = 0.002
"""CPU time a coroutine G's thread may spend after a preemption request without reaching
a trap before its P is handed off (:func:`stuck`). A G that reaches traps at all answers
the request within microseconds of CPU; one that computes 2 ms more without answering
has none in sight. Counted in the thread's CPU time, not the wall clock: a thread that
waits for the GIL (other Ms compute) or that the OS descheduled spends none, so neither
is mistaken for a hog, which is what the wall-clock grace of :func:`hog_after` has to
allow for. Measured with two trapless hogs at procs=2 (tests/runtime/test_hog_policy.py's
scenario): with the wall-clock rule alone a G behind them waited 49 ms at the median and
up to 100 ms."""


def stuck(p: P, now: float, syscall_after: float, hog: float, cpu: float | None = None) -> bool:
    """Whether ``p``'s M has been in one step (no G switch) for longer than allowed: a
    blocking call past ``syscall_after``, or a computing coroutine past ``hog`` (Go's
    retake ``sysmontick.schedwhen`` test for Psyscall, and forcePreemptNS for running).
    The driver hands the P off only if it has other work (Go's handoffp condition).

    ``cpu`` is the M thread's CPU time now (``time.clock_gettime`` of its
    ``pthread_getcpuclockid``), when the driver can read it. A blocking call whose thread
    has been off the CPU (less than :data:`OFF_CPU_SHARE` of the time) for
    :data:`OFF_CPU_AFTER` is stuck at once, as Go's retake hands off a syscall P at its
    next tick: the thread holds no GIL, so a second M runs the P's Gs at full speed. One
    still computing (a plain call in Python, holding the GIL) waits for ``syscall_after``:
    a second M beside it would mostly contend for the interpreter. Without ``cpu`` (the
    simulator, a platform without thread clocks) only ``syscall_after`` counts.

    For a coroutine G, ``cpu`` tells a hog from a G that merely did not get the CPU:
    once a preemption request is pending (``p.preempt``, set by :func:`slice_expired`),
    sysmon notes the thread's CPU time, and a G whose thread then computes
    :data:`PREEMPT_GRACE_CPU` without reaching a trap is stuck. A thread that has been
    mostly off the CPU for twice ``hog`` is stuck too (blocked in a call); one that has
    been computing and answers requests never is, whatever the wall clock says. Without
    ``cpu``, ``hog`` is the limit."""
    runtick = p.runtick
    if runtick != p.sysmon_runtick:
        p.sysmon_runtick = runtick
        p.sysmon_when = now
        p.sysmon_cpu = cpu
        p.sysmon_preempt_cpu = None
        return False
    elapsed = now - p.sysmon_when
    if p.status is not _SYSCALL:
        was = p.sysmon_cpu
        if cpu is None or was is None:
            return elapsed >= hog
        if p.preempt:
            asked = p.sysmon_preempt_cpu
            if asked is None:  # the first look at this request
                p.sysmon_preempt_cpu = cpu
            elif cpu - asked >= PREEMPT_GRACE_CPU:
                return True
        # A thread that has hardly run for twice ``hog``: blocked in a call made straight
        # from the coroutine (``time.sleep`` in an ``async def``). Not after one ``hog``:
        # a thread waiting for the GIL looks the same, and under three-way contention
        # for it (two Ms and sysmon) a G that does reach traps was seen with 0.45 ms of
        # CPU in 32 ms of wall time (a spurious handoff in about 1 run in 8 of
        # tests/runtime/test_hog_policy.py). One that computes is judged by the request.
        return elapsed >= 2 * hog and cpu - was < elapsed * OFF_CPU_SHARE
    if elapsed >= syscall_after:
        return True
    was = p.sysmon_cpu
    return (
        cpu is not None
        and was is not None
        and elapsed >= OFF_CPU_AFTER
        and cpu - was < elapsed * OFF_CPU_SHARE
    )


QUIET_LOOKS = 50
"""Looks with nothing to watch after which sysmon starts doubling its delay (Go's 50)."""

MAX_DELAY = 0.005
"""The longest delay between sysmon's looks. Go's is 10 ms; gmp's is 5 ms because a
blocking call needs two looks to be handed off (the first notes it): at most 10 ms,
within the 15 ms bar."""


def sysmon_sleeps(busy: int, delay: float) -> bool:
    """Whether sysmon parks until a P turns busy (Go's ``sysmonwait`` when every P is
    idle), rather than looking again after ``delay``: only once nothing is busy *and*
    its looks have backed off to :data:`MAX_DELAY` (:func:`sysmon_delay`).

    Why not at the first look that finds every P idle: a server's P goes idle between
    bursts (its M waits in the poller) many times a second, and each time the next
    busy P had to wake sysmon, a thread switch and a GIL hand-over on the Ms' core: 600
    wake-ups a second in ``gmp serve`` at 16k req/s. Backing off first costs a runtime
    gone idle five looks (0.5, 1, 2, 4 and 5 ms apart: idle looks double the delay at
    once, :func:`sysmon_delay`). Counting fifty looks at the interval first, as for a
    busy runtime, cost a server at ten requests a second 3,260 sysmon wake-ups in 6.5 s
    against 519 now (and 526 when sysmon parked at once); a P that turns busy meanwhile
    is seen at the next look, at most ``MAX_DELAY`` later, like any step."""
    return busy == 0 and delay >= MAX_DELAY


def watching(p: P) -> bool:
    """Whether sysmon's next look must come soon for ``p`` (:func:`sysmon_delay`'s
    ``watch``): a step, or a blocking call, already seen at an earlier look (the handoff
    bars are 15 and 60 ms). The driver adds an expired slice and an idle runtime.

    A blocking call seen for the first time is not watched yet, as in Go, whose sysmon
    retakes a P only from a syscall that outlived a whole sysmon tick and backs off while
    it retakes nothing. Watching every call kept sysmon at its interval under a server
    whose plain handlers each run as a blocking call: 600 looks a second at 16k req/s,
    each a thread switch on the Ms' core. A call that blocks is seen by the next look,
    at most :data:`MAX_DELAY` later, and watched from then on, so it is handed off
    within that plus ``handoff_after``: inside the 15 ms bar."""
    return p.runtick == p.sysmon_runtick


def shares_core(p: P, ps: list[P]) -> bool:
    """Whether the M taking ``p`` from a stuck M should share that M's core
    (gmp.runtime.affinity): ``p``'s G is a coroutine that computes (not a blocking call,
    whose thread waits without the GIL) and no other P is busy. With another P busy its
    M runs on another core anyway, and pairs pinned beside two hogs at procs=2 made a G
    behind them wait longer (median 57 -> 69 ms, the largest 78 -> 122 ms) for no gain
    in the spawn benchmark at procs=2 (241.5k/s pinned, 228-242k/s not). The simulator
    has no cores or caches, so it has nothing to pin."""
    if p.status is _SYSCALL:
        return False
    return all(q is p or q.status is PStatus.IDLE for q in ps)


def core_to_share(current: int | None, allowed: frozenset[int], taken: set[int]) -> int | None:
    """The CPU a computing thread and its new M share: the one it is on (``current``),
    unless another pair has it (two pairs on one core while another sat idle doubled the
    wait of a G behind two trapless hogs), then the lowest free one; None if none is."""
    if current is not None and current not in taken:
        return current
    free = sorted(allowed - taken)
    return free[0] if free else None


def sysmon_delay(
    delay: float, quiet: int, watch: bool, interval: float, idle: bool = False
) -> tuple[float, int]:
    """sysmon's sleep before its next look, and its count of quiet looks (Go's sysmon
    ``delay``/``idle``): ``interval`` while something needs watching (``watch``: a P in
    a blocking call, a step already seen at an earlier look, an expired slice, nothing
    busy), and after :data:`QUIET_LOOKS` quiet looks twice the last delay, up to
    :data:`MAX_DELAY`. A look that finds nothing busy (``idle``) is a quiet one that
    doubles the delay at once, so a runtime gone idle parks after five looks
    (:func:`sysmon_sleeps`) rather than fifty.

    Why: a server's short steps give sysmon nothing to do on most looks, and each look is
    a thread switch and a GIL hand-over on the Ms' core. ``gmp serve`` at procs=1 pinned
    to one core under ``wrk -c64 /ping``: looking every 0.5 ms, 25.9-29.3k req/s; backing
    off, 32.7-34.5k. The simulator's sysmon looks every ``interval`` (always watching): it
    models the blocking calls, which are watched."""
    if watch:
        return interval, 0
    quiet += 1
    if (quiet > QUIET_LOOKS or idle) and delay < MAX_DELAY:
        delay = min(delay * 2, MAX_DELAY)
    return max(delay, interval), quiet
