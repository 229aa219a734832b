"""``python -m gmp.demo.fanout``: a skewed fan-out job narrated by Go-style schedtrace.

One G spawns every job on its own P. Idle Ps wake and steal half of its queue; jobs
that block in a plain call lose their P to sysmon's handoff. The schedtrace lines show
per-P queues draining, steals and handoffs as they happen; a summary table ends the run.
"""

from __future__ import annotations

import hashlib
import sys
import time

import structlog

import gmp

BUF = b"gmp" * (1 << 15)


async def job(i: int) -> int:
    """A job: hashing (GIL released), a timer sleep, and every 10th a blocking call."""
    digest = hashlib.sha256(BUF).digest()
    await gmp.sleep(0.002)
    if i % 10 == 0:
        await gmp.syscall(time.sleep, 0.02)  # a blocking library call
    return digest[0]


async def fan_out(n: int) -> int:
    handles = [gmp.go(job, i) for i in range(n)]  # all land on this G's P
    return sum([await h.join() for h in handles])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 5000
    procs = int(args[1]) if len(args) > 1 else 4
    structlog.configure(
        processors=[structlog.dev.ConsoleRenderer(colors=False)],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    log = structlog.get_logger("gmp.demo")
    log.info("starting skewed fan-out", jobs=n, procs=procs)
    t0 = time.perf_counter()
    with gmp.Runtime(procs=procs, schedtrace_ms=200) as rt:
        total = rt.go(fan_out, n).result()
        st = rt.stats()
    elapsed = time.perf_counter() - t0
    log.info("done", jobs=n, checksum=total, seconds=round(elapsed, 3), threads=st.threads)
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
