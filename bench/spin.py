"""``python -m bench.spin [SECONDS ...]``: does spinning before parking pay under the GIL?

gmp parks an M as soon as it finds nothing to run (no busy-wait). This experiment patches
the M so that, before parking, it keeps its P and re-polls the queues for SECONDS, and
measures gosched cost and spawn rate at procs=2 plus sha256 over 64 x 1 MiB (GIL
released), with the process CPU time. Run it with nothing else on the machine.
"""

import hashlib
import sys
import time

import gmp
import gmp.runtime.m as mm

SPIN = 0.0
orig_stopm = mm.M._stopm


def stopm(self, p):
    # spin: keep the P and poll the queues (lock released) for SPIN seconds before parking
    rt = self.rt
    if SPIN > 0:
        end = time.monotonic() + SPIN
        while time.monotonic() < end:
            rt.lock.release()
            rt.lock.acquire()
            if rt.core.runq or p.runq or p.runnext is not None or any(q.runq for q in rt.core.ps):
                return  # back to the scheduler loop with the P still held
    return orig_stopm(self, p)


mm.M._stopm = stopm


async def y(n):
    for _ in range(n):
        await gmp.gosched()


async def ymain():
    t = time.perf_counter()
    hs = [gmp.go(y, 50000) for _ in range(2)]
    for h in hs:
        await h.join()
    return (time.perf_counter() - t) / 100000 * 1e6


async def w(i):
    return i


async def smain():
    t = time.perf_counter()
    hs = [gmp.go(w, i) for i in range(100000)]
    for h in hs:
        await h.join()
    return 100000 / (time.perf_counter() - t) / 1000


bufs = [bytes([i]) * (1 << 20) for i in range(64)]


async def hmain():
    t = time.perf_counter()
    hs = [gmp.go(hashlib.sha256, b) for b in bufs]
    for h in hs:
        await h.join()
    return (time.perf_counter() - t) * 1000


def main() -> None:
    global SPIN
    for arg in sys.argv[1:] or ["0", "0.0001", "0.001"]:
        SPIN = float(arg)
        measure()


def measure() -> None:
    c = time.process_time()
    r = [gmp.run(ymain, procs=2) for _ in range(3)]
    s = [gmp.run(smain, procs=2) for _ in range(3)]
    h = [gmp.run(hmain, procs=2) for _ in range(3)]
    cpu = time.process_time() - c
    print(
        f"spin {SPIN * 1e6:.0f}us: gosched procs=2 {min(r):.2f} us; "
        f"spawn procs=2 {max(s):.0f}k/s; sha 64x1MiB {min(h):.1f} ms; cpu {cpu:.2f}s"
    )


if __name__ == "__main__":
    main()
