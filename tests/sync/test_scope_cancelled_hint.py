"""``G.scope_cancelled``: the one-load test every checkpoint makes for cancel scopes.

Laws:

1. Exactness: at every point of a G's life, ``g.scope_cancelled`` equals "some scope the
   G is inside has been cancelled" (``any(s.cancel_called for s in g.scopes)``), whatever
   the order of entering, cancelling (before or after entry) and leaving scopes.
2. Delivery: a checkpoint raises Cancelled exactly when trio's rule says it must (the
   outermost cancelled scope not hidden behind a shield, ``cancel_exc``), so the hint
   never hides a cancellation; and the hint is False again once the G has left every
   cancelled scope, so the checkpoints stop asking.
3. Inheritance: a TaskGroup child started inside a scope that is already cancelled is
   cancelled at its first checkpoint (its scopes arrive through ``spawn``, not
   ``scope_enter``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import gmp
from gmp.runtime.g import cancel_exc

# An op: ("enter", shield, cancelled_before_entry), ("cancel", index of an open scope),
# ("exit",) or ("checkpoint",).
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("enter"), st.booleans(), st.booleans()),
        st.tuples(st.just("cancel"), st.integers(0, 7)),
        st.tuples(st.just("exit")),
        st.tuples(st.just("checkpoint")),
    ),
    max_size=24,
)


def _due(scopes: list[gmp.CancelScope]) -> bool:
    """trio's rule, restated: walking outwards from the innermost scope, a cancelled
    scope counts until a shield is passed."""
    for scope in reversed(scopes):
        if scope.cancel_called:
            return True
        if scope.shield:
            return False
    return False


@settings(max_examples=60, deadline=None)
@given(_OPS)
def test_hint_is_exact_and_checkpoints_follow_trio(ops: list[tuple[Any, ...]]) -> None:
    async def main() -> None:
        g = gmp.current_g()
        open_scopes: list[gmp.CancelScope] = []
        for op in ops:
            if op[0] == "enter":
                scope = gmp.CancelScope(shield=op[1])
                if op[2]:
                    scope.cancel()  # born cancelled: scope_enter must raise the hint
                scope.__enter__()
                open_scopes.append(scope)
            elif op[0] == "cancel" and open_scopes:
                open_scopes[op[1] % len(open_scopes)].cancel()
            elif op[0] == "exit" and open_scopes:
                open_scopes.pop().__exit__(None, None, None)
            elif op[0] == "checkpoint":
                due = _due(open_scopes)
                assert (cancel_exc(g) is not None) == due
                try:
                    await gmp.gosched()
                except gmp.Cancelled:
                    assert due, "a checkpoint raised with no cancellation due"
                else:
                    assert not due, "the hint hid a due cancellation"
            assert g.scope_cancelled == any(s.cancel_called for s in open_scopes), (
                op,
                [(s.cancel_called, s.shield) for s in open_scopes],
            )
        while open_scopes:
            open_scopes.pop().__exit__(None, None, None)
        assert g.scope_cancelled is False

    gmp.run(main, procs=1)


def test_child_started_inside_a_cancelled_scope_is_cancelled_at_its_first_checkpoint() -> None:
    async def main() -> list[str]:
        seen: list[str] = []

        async def child() -> None:
            try:
                await gmp.gosched()
            except gmp.Cancelled:
                seen.append("cancelled")
                raise
            seen.append("ran past its checkpoint")

        with gmp.CancelScope() as outer:
            async with gmp.TaskGroup() as tg:
                outer.cancel()
                tg.go(child)
                # Shielded, so our own checkpoint lets the child run first without
                # cancelling the TaskGroup (which would tell the child another way).
                with gmp.CancelScope(shield=True):
                    await gmp.gosched()
        return seen

    assert gmp.run(main, procs=1) == ["cancelled"]


def test_hint_drops_after_the_cancellation_is_caught() -> None:
    async def main() -> tuple[bool, bool, bool]:
        g = gmp.current_g()
        with gmp.CancelScope() as scope:
            scope.cancel()
            during = g.scope_cancelled
            await gmp.gosched()
        after = g.scope_cancelled
        await gmp.gosched()  # no Cancelled: nothing is due any more
        return during, scope.cancelled_caught, after

    assert gmp.run(main, procs=1) == (True, True, False)
