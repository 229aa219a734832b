"""Shared fixtures: every test that starts a runtime must leave no gmp thread behind."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest

# A shell starts a background job (``make test &``) with SIGINT ignored, and children
# inherit an ignored signal across exec: the programs the Ctrl-C tests start then never
# see their Ctrl-C, and Python installs no KeyboardInterrupt handler in them (a 20 s
# hang per test). Handling SIGINT here, as an interactive run does, makes their
# disposition the default again whatever started the suite.
if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
    signal.signal(signal.SIGINT, signal.default_int_handler)


def gmp_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("gmp-")]


@pytest.fixture(autouse=True)
def no_leaked_threads(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("shared_server"):
        # A server shared by a module's tests keeps its Ms between tests; it checks for
        # leaked threads itself when it stops (tests/http/engine_helpers.serving).
        yield
        return
    before = set(gmp_threads())
    yield
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        leaked = [t for t in gmp_threads() if t not in before and t.is_alive()]
        if not leaked:
            return
        time.sleep(0.01)
    pytest.fail(f"threads leaked by the test: {[t.name for t in leaked]}")


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """Keep the test session's heap out of the garbage collector while a test times the
    scheduler. After most of the suite a full collection took 160 ms (183k objects), all
    of it holding the GIL: a G behind two hogs at procs=2 then waited 112-145 ms at the
    median in two whole runs, against 40-80 ms with the module alone. ``gc.freeze`` moves
    every object alive now to the permanent generation, so collections during the test
    walk only what the test makes."""
    import gc

    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
