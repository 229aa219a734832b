"""Self-healing: an M killed by an internal error loses no queued G and strands no joiner.

The fault is injected by wrapping a method the M loop calls (``M._trap``, and the core's
``find_runnable`` as the M module imported it) so that it raises once, for one chosen G
or on the first call: the runtime's own code failing, not a G's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

import gmp
import gmp.runtime.m as mmod
from gmp.runtime.m import M
from gmp.runtime.traps import Sleep

pytestmark = pytest.mark.threaded

WAIT = 60.0


class Boom(Exception):
    """The injected internal error."""


@pytest.fixture
def crash_on_sleep_of(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Make the M that handles ``state["victim"]``'s sleep trap die, once."""
    state: dict[str, Any] = {"victim": None, "fired": 0}
    orig = M._trap

    def _trap(self: M, g: Any, oldp: Any, trap: Any) -> Any:
        if (
            state["victim"] is not None
            and g is state["victim"]
            and (type(trap) is Sleep or (type(trap) is tuple and trap[0] is Sleep))
            and not state["fired"]
        ):
            state["fired"] += 1
            raise Boom("injected fault in the M loop")
        return orig(self, g, oldp, trap)

    monkeypatch.setattr(M, "_trap", _trap)
    yield state


def test_a_crashed_m_fails_its_g_and_the_queued_gs_all_finish_once(
    crash_on_sleep_of: dict[str, Any],
) -> None:
    n = 2000
    runs = [0] * n
    lock = threading.Lock()
    armed = threading.Event()

    async def victim() -> str:
        armed.wait(WAIT)
        await gmp.sleep(0.001)  # the M handling this trap dies
        return "never"

    async def work(i: int) -> int:
        await gmp.sleep(0)
        with lock:
            runs[i] += 1
        return i

    async def joiner(h: gmp.G) -> str:
        try:
            await h.join()
        except gmp.ThreadLostError as e:
            return f"lost: {e}"
        return "joined"

    with capture_logs() as logs, gmp.Runtime(procs=2) as rt:
        v = rt.go(victim)
        crash_on_sleep_of["victim"] = v
        j = rt.go(joiner, v)
        hs = [rt.go(work, i) for i in range(n)]
        armed.set()
        with pytest.raises(gmp.ThreadLostError, match="lost its thread"):
            v.result(timeout=WAIT)
        assert j.result(timeout=WAIT).startswith("lost: ")
        assert sorted(h.result(timeout=WAIT) for h in hs) == list(range(n))
        # The runtime still works after the crash.
        assert rt.go(work, 0).result(timeout=WAIT) == 0
        st = rt.stats()
    assert crash_on_sleep_of["fired"] == 1
    assert runs == [2] + [1] * (n - 1)
    assert st.m_crashes == 1
    assert isinstance(v.exc, gmp.ThreadLostError) and isinstance(v.exc.__cause__, Boom)
    errors = [e for e in logs if e["event"].startswith("M died from an internal error")]
    assert len(errors) == 1, logs
    assert errors[0]["g"] == v.id
    assert errors[0]["exc_info"][0] is Boom


def test_a_crash_with_no_g_in_hand_hands_the_p_and_its_queue_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orig = mmod.find_runnable
    fired = threading.Event()

    def find_runnable(*args: Any) -> Any:
        if not fired.is_set():
            fired.set()
            raise Boom("injected fault in find_runnable")
        return orig(*args)

    async def work(i: int) -> int:
        await gmp.gosched()
        return i

    monkeypatch.setattr(mmod, "find_runnable", find_runnable)
    with capture_logs(), gmp.Runtime(procs=1) as rt:
        hs = [rt.go(work, i) for i in range(500)]
        assert [h.result(timeout=WAIT) for h in hs] == list(range(500))
        st = rt.stats()
    assert fired.is_set()
    assert st.m_crashes == 1
    assert st.threads >= 2  # a replacement M took over the P


def test_crashes_on_every_p_still_leave_a_working_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orig = M._trap
    budget = [6]
    lock = threading.Lock()

    def _trap(self: M, g: Any, oldp: Any, trap: Any) -> Any:
        if type(trap) is Sleep:
            with lock:
                if budget[0] > 0:
                    budget[0] -= 1
                    raise Boom("injected fault")
        return orig(self, g, oldp, trap)

    async def sleeper(i: int) -> int:
        await gmp.sleep(0.0005)
        return i

    monkeypatch.setattr(M, "_trap", _trap)
    with capture_logs(), gmp.Runtime(procs=3) as rt:
        hs = [rt.go(sleeper, i) for i in range(300)]
        lost = ok = 0
        for h in hs:
            try:
                h.result(timeout=WAIT)
                ok += 1
            except gmp.ThreadLostError:
                lost += 1
        st = rt.stats()
    assert lost == 6 and ok == 294
    assert st.m_crashes == 6
    assert st.gs_alive == 0
