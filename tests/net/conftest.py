"""Fixtures of the gmp.net tests: ports that refuse or never answer."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that is bound but not listening: a connect gets a reset
    (ECONNREFUSED), and no other program can start listening on it meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port that answers no more connects: a listener with a backlog of 0 that never
    accepts, its queue filled. Linux drops a SYN while the accept queue is full, so a
    connect there neither succeeds nor fails until its timeout: a dial timeout that needs
    nothing beyond loopback. (An unroutable address such as 10.255.255.1 is no good
    here: without a route it fails at once, and behind a proxy it may even connect.)"""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fill: list[socket.socket] = []
    try:
        for _ in range(64):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            _, writable, _ = select.select([], [c], [], 0.5)
            if not writable:
                c.close()  # this SYN was dropped: the queue is full
                break
            fill.append(c)
        else:
            pytest.skip("the listen queue never filled (the kernel took 64 connects)")
        yield port
    finally:
        for c in fill:
            c.close()
        ls.close()
