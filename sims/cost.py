"""The cost model: what each scheduler action costs in virtual time.

Defaults are order-of-magnitude figures for a native runtime (Go, tokio) on a current
x86 core, so that the *relative* cost of stealing, waking and switching shapes the
results the way it does on real machines; :meth:`CostModel.zero` removes every overhead
for comparisons with queueing theory. Everything is in seconds.
"""

from __future__ import annotations

import attrs


def _non_negative(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if value < 0 or value != value:
        raise ValueError(f"cost {attr.name} must be a non-negative number of seconds, got {value}")


@attrs.frozen(slots=True)
class CostModel:
    """Virtual-time costs charged by the simulator for scheduler actions."""

    runq_op: float = attrs.field(default=50e-9, validator=_non_negative)
    """Taking a G from the local queue or runnext (Go's runqget: a few atomics)."""
    global_op: float = attrs.field(default=200e-9, validator=_non_negative)
    """Taking a batch from the global queue (globrunqget under sched.lock)."""
    steal: float = attrs.field(default=1e-6, validator=_non_negative)
    """A successful steal: probing victims and moving half a queue (runqsteal)."""
    steal_fail: float = attrs.field(default=4e-6, validator=_non_negative)
    """A search that found nothing (all of stealWork's rounds) before the M parks."""
    switch: float = attrs.field(default=200e-9, validator=_non_negative)
    """Switching to the chosen G (Go's execute + gogo)."""
    spawn: float = attrs.field(default=300e-9, validator=_non_negative)
    """Creating and queuing a G, charged to the spawner (newproc)."""
    wake: float = attrs.field(default=5e-6, validator=_non_negative)
    """Latency from wakep/handoff to the woken M running (futex wake, notewakeup)."""
    thread_start: float = attrs.field(default=50e-6, validator=_non_negative)
    """Extra latency when no parked M exists and a new one must be created (newm)."""
    poll: float = attrs.field(default=1e-6, validator=_non_negative)
    """A non-blocking poll of the network (Go's ``netpoll(0)``: ``epoll_wait`` with a zero
    timeout, and the readiness it reports turned into Gs), charged to the M that polls."""
    gil_switch: float = attrs.field(default=0.0, validator=_non_negative)
    """How long sysmon waits for the interpreter while an M computes, on top of its tick
    (CPython's ``sys.getswitchinterval()``, 5 ms, for the threaded runtime; 0 for a
    native runtime, whose sysmon runs in parallel). It spaces sysmon's looks at time
    slices, so it sets how late a slice is noticed: see :meth:`python`."""

    @classmethod
    def python(cls) -> CostModel:
        """The threaded runtime under the GIL: sysmon's looks wait for the switch interval,
        and waking a thread, resuming a G and polling cost what they cost in Python.

        sysmon's looks while an M computes come every 6.5 ms in the runtime: its 1 ms tick,
        the 5 ms switch interval, and about 0.5 ms more before the computing thread
        reaches its next check (read off ``python -m sims.token_pass`` at 10, 20 and 30 ms
        slices, where the runtime waits 19, 32 and 36-40 ms). With 5 ms alone the model
        ran 6% short and a 30 ms slice sometimes missed the 10% agreement.

        ``wake``, ``switch`` and ``poll`` were read off ``python -m sims.echo`` at a low
        rate (200 requests/s, each alone on the machine): from a request's send to its G
        computing took 63-80 us (medians of three runs; 26 us at p10), that is a thread
        returning from ``epoll_wait`` and taking the GIL and the scheduler lock (``wake``,
        55 us), the M loop resuming the G (``switch``, 3 us, as the channel ping-pong's
        round trip of two switches under 10 us says) and the G's ``recv``. A non-blocking
        poll, ``epoll_wait(0)`` and turning its events into Gs in Python, is about 3 us.
        The token-passing figures above do not move with them (no M is woken at procs=1)."""
        return cls(switch=3e-6, wake=55e-6, poll=3e-6, gil_switch=0.0055)

    @classmethod
    def zero(cls) -> CostModel:
        """No overheads at all: an ideal machine, for checks against queueing theory."""
        return cls(**{f.name: 0.0 for f in attrs.fields(cls)})
