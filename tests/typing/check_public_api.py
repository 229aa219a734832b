"""Checked by ``make lint`` (mypy --strict), never run: the public API is typed by the
G's result. ``assert_type`` fails the type check if an inferred type drifts."""

from __future__ import annotations

from typing import assert_type

import gmp


async def fetch(n: int) -> bytes:
    return b"x" * n


def blocking(n: int) -> str:
    return str(n)


async def main() -> int:
    h = gmp.go(fetch, 3)
    assert_type(h, gmp.G[bytes])
    assert_type(await h.join(), bytes)
    p = gmp.go(blocking, 3)
    assert_type(p, gmp.G[str])
    c = gmp.go(fetch(2))
    assert_type(c, gmp.G[bytes])
    return len(await h.join())


def top() -> None:
    assert_type(gmp.run(main), int)
    with gmp.Runtime(procs=1) as rt:
        g = rt.go(fetch, 1)
        assert_type(g.result(timeout=1.0), bytes)
        assert_type(g.outcome(), bytes)
