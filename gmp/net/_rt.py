"""The runtime a ``gmp.net`` call belongs to: the calling G's."""

from __future__ import annotations

from gmp.errors import NotInGError
from gmp.runtime.netpoll import Poller
from gmp.runtime.traps import tls


def poller(what: str) -> Poller:
    """The calling G's runtime's network poller (made on first use)."""
    m = tls.m
    if m is None or m.curg is None:
        raise NotInGError(
            f"{what} works only inside a G; start one with gmp.run(main) or rt.go(fn)"
        )
    return m.rt.netpoller()
