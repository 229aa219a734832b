"""``python -m gmp.demo.fanout``: a skewed fan-out job narrated by Go-style schedtrace.

One G spawns every job from its own P, without yielding, as a Go loop of ``go job(i)``
does. Go's placement rules then show in the trace (``SCHED`` lines, every 200 ms, or
every ``MS`` with ``GMP_DEBUG=schedtrace=MS`` or ``--schedtrace MS``):

- **The global queue carries the fan-out.** A new G goes to its spawner's runnext and
  the displaced one to the local queue, a ring of 256 (newproc, runqput). When the ring
  is full, half of it moves to the global queue (runqputslow), so after the first few
  hundred spawns nearly every job reaches the other Ps through the global queue: the
  trace's ``runqueue=`` climbs into the thousands while the per-P queues in ``[...]`` stay
  under 257, and every P takes a batch from the global queue when it looks for work
  (globrunqget). The summary's ``spills=`` counts those overflows.
- **Stealing fills the gaps.** A P that finds its own queue and the global queue empty
  steals half of another P's local queue (runqsteal): a few steals right at the start,
  before the global queue has work, and more at the end, once it has run dry. Most jobs
  are not stolen; ``steals=`` counts steals and the summary's ``stolen=`` the Gs taken.
- **Handoff protects the P.** Every 10th job blocks in a plain call through
  ``gmp.syscall``; sysmon sees it outlast ``handoff_after`` and hands its P to another M
  (retake, handoffp), so ``handoffs=`` grows by about one per blocking job and the thread
  count rises above ``gomaxprocs``.

The summary after the run gives the totals, then per P the Gs run, steals, Gs stolen,
handoffs and preemptions. ``python -m gmp.demo.fanout --help`` lists the options.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time

import structlog

import gmp
from gmp.observe.schedtrace import parse_gmp_debug

BUF = b"gmp" * (1 << 15)
DEFAULT_SCHEDTRACE_MS = 200


async def job(i: int) -> int:
    """A job: hashing (GIL released), a timer sleep, and every 10th a blocking call."""
    digest = hashlib.sha256(BUF).digest()
    await gmp.sleep(0.002)
    if i % 10 == 0:
        await gmp.syscall(time.sleep, 0.02)  # a blocking library call
    return digest[0]


async def fan_out(n: int) -> int:
    handles = [gmp.go(job, i) for i in range(n)]  # all spawned from this G's P
    return sum([await h.join() for h in handles])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gmp.demo.fanout",
        description=(
            "A skewed fan-out: one G spawns every job from its own P; a Go-style schedtrace "
            "shows the global queue, work stealing and sysmon's handoffs at work."
        ),
        epilog=(
            "The trace interval is --schedtrace, else GMP_DEBUG=schedtrace=MS (as Go's "
            f"GODEBUG), else {DEFAULT_SCHEDTRACE_MS} ms; 0 turns the trace off."
        ),
    )
    parser.add_argument("jobs", nargs="?", type=int, default=5000, help="jobs to spawn")
    parser.add_argument("procs", nargs="?", type=int, default=4, help="Ps (GOMAXPROCS)")
    parser.add_argument(
        "--schedtrace", metavar="MS", type=int, default=None, help="trace interval in ms"
    )
    return parser


def _schedtrace_ms(parser: argparse.ArgumentParser, flag: int | None) -> int:
    """The flag, else ``GMP_DEBUG`` (read once here and passed on, so the runtime and the
    starting line agree), else the demo's default."""
    if flag is not None:
        value = flag
    else:
        try:
            value = parse_gmp_debug().get("schedtrace", DEFAULT_SCHEDTRACE_MS)
        except ValueError as e:
            parser.error(str(e))
    if value < 0:
        parser.error(f"the schedtrace interval must be >= 0 ms, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.jobs < 1 or args.procs < 1:
        parser.error("jobs and procs must be at least 1")
    schedtrace_ms = _schedtrace_ms(parser, args.schedtrace)
    structlog.configure(
        processors=[structlog.dev.ConsoleRenderer(colors=False)],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    log = structlog.get_logger("gmp.demo")
    log.info(
        "starting skewed fan-out", jobs=args.jobs, procs=args.procs, schedtrace_ms=schedtrace_ms
    )
    t0 = time.perf_counter()
    with gmp.Runtime(procs=args.procs, schedtrace_ms=schedtrace_ms) as rt:
        total = rt.go(fan_out, args.jobs).result()
        st = rt.stats()
    elapsed = time.perf_counter() - t0
    log.info(
        "done",
        jobs=args.jobs,
        checksum=total,
        seconds=round(elapsed, 3),
        threads=st.threads,
        spills=st.spills,
        steals=sum(p.steals for p in st.procs),
        stolen=sum(p.stolen for p in st.procs),
        handoffs=sum(p.handoffs for p in st.procs),
    )
    for p in st.procs:
        log.info(
            f"P{p.id}",
            runs=p.runs,
            steals=p.steals,
            stolen=p.stolen,
            handoffs=p.handoffs,
            preemptions=p.preemptions,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
