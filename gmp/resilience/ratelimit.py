"""Rate limiters: a token bucket, a leaky bucket (as a queue), and one bucket per key.

:class:`TokenBucket` is Go's ``golang.org/x/time/rate.Limiter``: tokens refill
continuously at ``rate`` per second up to ``burst``; a request of ``cost`` tokens is
allowed when that many are there. Bursts up to ``burst`` pass at once, the long-run rate
is ``rate``.

:class:`LeakyBucket` is the leaky bucket *as a queue* (uber-go/ratelimit, nginx's
``limit_req`` with ``burst``): requests leave at a fixed spacing of ``1/rate`` seconds.
A request joins the queue if its cost still fits in the bucket's ``capacity`` and is
told how long to wait (``Decision.delay``) before it proceeds; a full bucket rejects it.
It smooths bursts instead of passing them.

Both answer a request with a :class:`Decision` carrying the numbers an HTTP layer sends
back: ``Retry-After`` (RFC 9110) and the ``RateLimit`` fields of the IETF draft
(draft-ietf-httpapi-ratelimit-headers: limit, remaining, reset). ``try_acquire`` never
blocks; ``await acquire()`` waits, with ``gmp.sleep`` inside a G and ``trio.sleep`` in a
trio task, and is cancellable by either. :class:`KeyedLimiter` keeps one bucket per
client key in bounded memory.

Every bucket's state is guarded by its own ``threading.Lock`` and the clock is read under
it, so decisions are serialised in clock order: correctness does not depend on the GIL.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import attrs
import trio

from gmp.errors import NotInGError, TooSlowError
from gmp.resilience import _validate
from gmp.runtime.api import sleep as _gmp_sleep
from gmp.runtime.park import raise_if_cancelled
from gmp.runtime.traps import tls

Clock = Callable[[], float]
"""A monotonic clock in seconds (``time.monotonic`` unless a test injects a fake)."""


class Decision(NamedTuple):
    """The answer to one request: allowed or not, and the numbers for response headers.

    ``retry_after``: seconds until a request of the same cost could be allowed (0 when
    allowed). ``limit``: the bucket's size (``burst`` or ``capacity``). ``remaining``:
    whole requests of cost 1 that would pass right now after this one. ``reset``: seconds
    until the bucket is back to its fresh state (full of tokens, or empty of queued
    requests). ``delay``: seconds an allowed request must wait before it proceeds (the
    leaky bucket's queue; a token bucket's ``acquire`` reservation); 0 otherwise.

    An immutable named tuple: one is made per request, and a tuple is built in a
    fraction of the time of a frozen attrs instance (0.3 µs against 0.8 µs here).
    """

    allowed: bool
    cost: int
    limit: int
    remaining: int
    retry_after: float
    reset: float
    delay: float = 0.0

    @property
    def retry_after_seconds(self) -> int:
        """``retry_after`` rounded up to whole seconds, for ``Retry-After`` (RFC 9110 §10.2.3).

        Rounding up keeps the promise: a client that waits this long will be let in.
        """
        return math.ceil(self.retry_after)

    @property
    def reset_seconds(self) -> int:
        """``reset`` rounded up to whole seconds, for ``RateLimit-Reset``."""
        return math.ceil(self.reset)

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (the draft's
        widely deployed form), plus ``Retry-After`` when the request was refused."""
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after_seconds)
        return out


class RateLimitTimeout(TooSlowError):
    """``acquire(timeout=...)`` cannot be allowed before its deadline.

    Raised at once when the wait is known to exceed the timeout (Go's ``Limiter.Wait``
    does the same with a context deadline), not after uselessly sleeping until it.
    ``retry_after`` is the wait that would have been needed, in seconds.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@attrs.define(slots=True, eq=False)
class _Reservation:
    """A request ``acquire`` admitted with a delay, kept so a cancelled wait can give its
    cost back (Go's ``Reservation.CancelAt``).

    Its turn comes when ``need`` cost units have drained (or refilled) since ``at``; the
    test is done in cost units, not by comparing a rounded ``at + need/rate``. ``mark``
    is the bucket's running total of delayed cost just after this one: cost reserved
    later was scheduled behind this one and is not given back.
    """

    cost: int
    at: float
    need: float
    mark: int


def _nudge(now: float, wait: float, ok: Callable[[float], bool]) -> float:
    """The smallest float near ``wait`` with ``ok(now + wait)``.

    ``deficit / rate`` is rounded, and so is ``now + wait``; a caller that retries at
    exactly ``now + retry_after`` must be let in, so step up by ulps until the bucket's
    own arithmetic agrees. Almost always zero or one step.
    """
    for _ in range(64):
        if ok(now + wait):
            return wait
        wait = max(math.nextafter(wait, math.inf), math.nextafter(now + wait, math.inf) - now)
    return wait


class Limiter(Protocol):
    """What :class:`KeyedLimiter` needs from a bucket (both buckets here provide it)."""

    @property
    def limit(self) -> int: ...

    def try_acquire(self, cost: int = 1) -> Decision: ...

    async def acquire(self, cost: int = 1, *, timeout: float | None = None) -> Decision: ...

    def is_idle(self) -> bool: ...


# Builds a Decision from a full 7-tuple without the named tuple's Python-level __new__
# (0.35 -> 0.1 us): for the hot path, which always gives every field.
_make_decision: Callable[[type[Decision], tuple[Any, ...]], Decision] = tuple.__new__


class _Bucket:
    """What both buckets share: the lock, the clock, ``acquire`` and its cancellation."""

    __slots__ = ("_clock", "_last", "_lock", "_rate", "_reserved")

    _LIMIT_NAME = "limit"

    def __init__(self, rate: float, clock: Clock) -> None:
        self._rate = _validate.positive("rate", rate)
        if not callable(clock):
            raise TypeError(f"clock must be callable, got {type(clock).__name__}")
        self._clock = clock
        self._lock = threading.Lock()
        self._last = -math.inf
        # Running total of the cost admitted with a delay (see _Reservation.mark).
        self._reserved = 0

    @property
    def rate(self) -> float:
        """Requests (cost units) per second."""
        return self._rate

    @property
    def limit(self) -> int:
        raise NotImplementedError

    def _now(self) -> float:
        # Under the lock. A clock that steps back is clamped: time never runs backwards
        # for a bucket (Go's advance() would instead credit the skew as refill).
        now = float(self._clock())
        return now if now > self._last else self._last

    def _check_cost(self, cost: Any) -> int:
        cost = _validate.integer("cost", cost, at_least=0)
        if cost > self.limit:
            raise ValueError(
                f"cost {cost} exceeds {self._LIMIT_NAME} {self.limit}: it can never be allowed"
            )
        return int(cost)

    # Implemented by each bucket, always with the lock held.
    def _decide(
        self, now: float, cost: int, max_wait: float
    ) -> tuple[Decision, _Reservation | None, bool]:
        """Decide and update the state. Returns the decision, the reservation when an
        allowed request has a delay, and whether a refusal is final for ``max_wait``."""
        raise NotImplementedError

    def _give_back(self, now: float, cost: int) -> None:
        raise NotImplementedError

    def _idle(self, now: float) -> bool:
        raise NotImplementedError

    def try_acquire(self, cost: int = 1) -> Decision:
        """Decide at once for a request of ``cost``; never blocks. ``cost=0`` only reads
        the numbers (always allowed, changes nothing)."""
        cost = self._check_cost(cost)
        with self._lock:
            decision, _, _ = self._decide(self._now(), cost, self._try_max_wait)
        return decision

    _try_max_wait = 0.0

    def is_idle(self) -> bool:
        """True when the bucket is indistinguishable from a fresh one (so it can be
        dropped and recreated without changing any decision)."""
        with self._lock:
            return self._idle(self._now())

    async def acquire(self, cost: int = 1, *, timeout: float | None = None) -> Decision:
        """Wait until a request of ``cost`` is allowed; return the decision.

        Inside a G the wait is ``gmp.sleep``; in a trio task, ``trio.sleep``; either's
        cancellation interrupts it, and a cancelled wait gives back what it had reserved.
        With ``timeout`` (seconds), raises :class:`RateLimitTimeout` as soon as the wait
        is known to be longer. ``cost`` larger than the bucket raises ValueError.
        """
        cost = self._check_cost(cost)
        sleep, checkpoint = _waiting_primitives()
        await checkpoint()
        deadline = math.inf
        if timeout is not None:
            deadline = float(self._clock()) + _validate.non_negative("timeout", timeout)
        while True:
            with self._lock:
                now = self._now()
                max_wait = max(0.0, deadline - now)
                decision, reservation, final = self._decide(now, cost, max_wait)
            if decision.allowed:
                if reservation is None:
                    return decision
                try:
                    await sleep(decision.delay)
                except BaseException:
                    self._cancel(reservation)
                    raise
                return decision
            if final:
                raise RateLimitTimeout(
                    f"a request of cost {cost} cannot be allowed within {timeout}s "
                    f"(it needs {decision.retry_after:.6g}s)",
                    retry_after=decision.retry_after,
                )
            await sleep(decision.retry_after)

    def _cancel(self, reservation: _Reservation) -> None:
        with self._lock:
            now = self._now()
            if (now - reservation.at) * self._rate >= reservation.need:
                return  # its turn came: the cost is spent
            later = self._reserved - reservation.mark
            restore = reservation.cost - later
            if restore <= 0:
                return
            self._give_back(now, restore)
            if later == 0:
                self._reserved -= reservation.cost


async def _gmp_checkpoint() -> None:
    # A cancellation check that does not block, before anything is reserved.
    m = tls.m
    if m is not None and m.curg is not None:
        raise_if_cancelled(m.curg)


def _waiting_primitives() -> tuple[Callable[[float], Any], Callable[[], Awaitable[None]]]:
    """``(sleep, checkpoint)`` for the caller: gmp's inside a G, trio's in a trio task."""
    m = tls.m
    if m is not None and m.curg is not None:
        return _gmp_sleep, _gmp_checkpoint
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        raise NotInGError(
            "acquire() waits with gmp.sleep inside a G or trio.sleep in a trio task, and "
            "this is neither; use try_acquire() from plain threads"
        ) from None
    return trio.sleep, trio.lowlevel.checkpoint_if_cancelled


class TokenBucket(_Bucket):
    """Go's ``x/time/rate.Limiter``: ``burst`` tokens, refilled at ``rate`` per second.

    Starts full. ``try_acquire(n)`` is ``AllowN``; ``acquire(n)`` is ``WaitN``: it
    *reserves* the tokens at once (the bucket goes into debt, which later requests see)
    and sleeps until they would have been there, so waiters are served in arrival order
    and a large request is not starved by small ones. A cancelled wait returns its tokens
    unless later reservations were scheduled behind it (``Reservation.CancelAt``).
    """

    __slots__ = ("_burst", "_tokens")

    _LIMIT_NAME = "burst"

    def __init__(self, rate: float, burst: int, *, clock: Clock = time.monotonic) -> None:
        super().__init__(rate, clock)
        self._burst = _validate.integer("burst", burst, at_least=1)
        self._tokens = float(self._burst)

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self._rate!r}, burst={self._burst!r})"

    @property
    def burst(self) -> int:
        return self._burst

    @property
    def limit(self) -> int:
        return self._burst

    def try_acquire(self, cost: int = 1) -> Decision:
        """Decide at once for a request of ``cost``; never blocks (``AllowN``).

        The common answer, allowed from the tokens there, is computed inline by
        :meth:`_take`: the same arithmetic as :meth:`_decide` in one call under the lock
        instead of five (1.75 -> 0.9 us a request, ``RateLimit`` on every request of a
        server). Every other case (a cost to validate, a refusal, the first request)
        goes through the general path.
        """
        if type(cost) is not int or cost < 1 or cost > self._burst:
            return super().try_acquire(cost)
        got = self._take(cost)
        if isinstance(got, Decision):
            return got
        remaining, reset = got
        return _make_decision(Decision, (True, cost, self._burst, remaining, 0.0, reset, 0.0))

    def _take(self, cost: int) -> Decision | tuple[int, float]:
        """:meth:`try_acquire` for :class:`~gmp.http.middleware.RateLimit`, which has
        validated ``cost`` (a positive int): the common answer, allowed from the tokens
        there, as ``(remaining, reset)`` without a :class:`Decision` to build and read
        back; any other answer as the Decision itself, decided under the same lock at the
        same clock reading (one reading a decision, as ``try_acquire``'s).

        ``try_acquire``'s common answer is this one, wrapped in a Decision
        (``tests/resilience/test_ratelimit_take.py`` holds the two equal). Part of RateLimit's
        +3.0 -> +2.2 us a request (``python -m bench.engine_bench --rounds 1000 --reps
        5``, best of 5).
        """
        if cost > self._burst:
            return super().try_acquire(cost)  # raises the ValueError
        lock = self._lock
        lock.acquire()  # not ``with``: see KeyedLimiter.bucket
        try:
            last = self._last
            now = float(self._clock())
            if now < last:
                now = last
            burst = self._burst
            tokens = self._tokens + (now - last) * self._rate
            if tokens > burst:
                tokens = float(burst)
            if tokens < cost:  # refused, or allowed only with a wait: the general path
                decision, _, _ = self._decide(now, cost, 0.0)
                return decision
            tokens -= cost
            self._tokens = tokens
            self._last = now
        finally:
            lock.release()
        return int(tokens), (burst - tokens) / self._rate  # tokens >= 0: int() is floor

    def _tokens_at(self, t: float) -> float:
        # x/time/rate's advance(): continuous refill, capped at burst.
        if self._last == -math.inf:
            return self._tokens
        tokens = self._tokens + (t - self._last) * self._rate
        return tokens if tokens < self._burst else float(self._burst)

    def _decide(
        self, now: float, cost: int, max_wait: float
    ) -> tuple[Decision, _Reservation | None, bool]:
        tokens = self._tokens_at(now)
        self._last = now
        rate = self._rate
        if cost == 0 or tokens >= cost:
            tokens -= cost
            self._tokens = tokens
            return self._decision(True, cost, tokens, 0.0), None, False
        deficit = cost - tokens
        if deficit <= max_wait * rate:
            self._tokens = tokens - cost
            self._reserved += cost
            delay = deficit / rate
            d = self._decision(True, cost, tokens - cost, 0.0, delay)
            return d, _Reservation(cost, now, deficit, self._reserved), False
        self._tokens = tokens
        burst = self._burst

        def ok(t: float) -> bool:
            refilled = tokens + (t - now) * rate
            return (refilled if refilled < burst else burst) >= cost

        retry = _nudge(now, deficit / rate, ok)
        return self._decision(False, cost, tokens, retry), None, True

    def _decision(
        self, allowed: bool, cost: int, tokens: float, retry: float, delay: float = 0.0
    ) -> Decision:
        return Decision(
            allowed=allowed,
            cost=cost,
            limit=self._burst,
            remaining=max(0, math.floor(tokens)),
            retry_after=retry,
            reset=(self._burst - tokens) / self._rate,
            delay=delay,
        )

    def _give_back(self, now: float, cost: int) -> None:
        tokens = self._tokens_at(now) + cost
        self._tokens = tokens if tokens < self._burst else float(self._burst)
        self._last = now

    def _idle(self, now: float) -> bool:
        return self._tokens_at(now) >= self._burst


class LeakyBucket(_Bucket):
    """The leaky bucket as a queue (uber-go/ratelimit; nginx ``limit_req`` with ``burst``).

    The bucket holds up to ``capacity`` cost units of queued work and leaks ``rate`` units
    per second. A request whose cost fits is admitted and must wait ``Decision.delay``
    (the work ahead of it draining) before it proceeds, so admitted requests proceed
    exactly ``cost/rate`` apart; one that does not fit is refused with ``retry_after``.
    ``capacity`` counts the request whose turn it is: ``capacity=1`` spaces requests with
    no queue (uber-go/ratelimit without slack), nginx's ``burst=b`` is ``capacity=b+1``.

    ``try_acquire`` admits with a delay the caller must honour (a middleware sleeps it);
    ``acquire`` sleeps it itself, and when the bucket is full waits for room, then queues.
    """

    __slots__ = ("_capacity", "_level")

    _LIMIT_NAME = "capacity"
    _try_max_wait = math.inf

    def __init__(self, rate: float, capacity: int, *, clock: Clock = time.monotonic) -> None:
        super().__init__(rate, clock)
        self._capacity = _validate.integer("capacity", capacity, at_least=1)
        self._level = 0.0

    def __repr__(self) -> str:
        return f"LeakyBucket(rate={self._rate!r}, capacity={self._capacity!r})"

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def limit(self) -> int:
        return self._capacity

    def _level_at(self, t: float) -> float:
        if self._last == -math.inf:
            return self._level
        level = self._level - (t - self._last) * self._rate
        return level if level > 0.0 else 0.0

    def _decide(
        self, now: float, cost: int, max_wait: float
    ) -> tuple[Decision, _Reservation | None, bool]:
        level = self._level_at(now)
        self._last = now
        rate = self._rate
        capacity = self._capacity
        if level + cost <= capacity and level <= max_wait * rate:
            delay = level / rate
            self._level = level + cost
            reservation = None
            if delay > 0 and cost > 0:
                self._reserved += cost
                reservation = _Reservation(cost, now, level, self._reserved)
            return self._decision(True, cost, level + cost, 0.0, delay), reservation, False
        self._level = level
        # Either it does not fit (wait for room), or its turn (when the work ahead has
        # drained) is past max_wait, which waiting cannot change.
        final = level > max_wait * rate
        if final:
            retry = level / rate
        else:

            def ok(t: float) -> bool:
                left = level - (t - now) * rate
                return (left if left > 0.0 else 0.0) + cost <= capacity

            retry = _nudge(now, (level + cost - capacity) / rate, ok)
        return self._decision(False, cost, level, retry), None, final

    def _decision(
        self, allowed: bool, cost: int, level: float, retry: float, delay: float = 0.0
    ) -> Decision:
        return Decision(
            allowed=allowed,
            cost=cost,
            limit=self._capacity,
            remaining=max(0, math.floor(self._capacity - level)),
            retry_after=retry,
            reset=level / self._rate,
            delay=delay,
        )

    def _give_back(self, now: float, cost: int) -> None:
        level = self._level_at(now) - cost
        self._level = level if level > 0.0 else 0.0
        self._last = now

    def _idle(self, now: float) -> bool:
        return self._level_at(now) <= 0.0


L = TypeVar("L", bound=Limiter)


class KeyedLimiter(Generic[L]):
    """One bucket per key (client address, API key), in bounded memory.

    ``factory()`` makes the bucket for a key seen for the first time. At most
    ``max_keys`` buckets are kept; past that the least recently used is dropped (an LRU,
    like the per-client maps of nginx's ``limit_req_zone`` or golang.org/x/time/rate
    examples). Dropping an idle bucket (full of tokens, or an empty queue) changes no
    decision, since a fresh one is identical; dropping a busy one forgets its client's
    debt, which ``evicted_busy`` counts so ``max_keys`` can be sized. :meth:`prune`
    drops every idle bucket, for a periodic sweep.

    The key map has its own lock; decisions take only the bucket's lock, so clients do
    not serialise on each other.
    """

    __slots__ = ("_buckets", "_evicted", "_evicted_busy", "_factory", "_lock", "_max_keys")

    def __init__(self, factory: Callable[[], L], *, max_keys: int = 10_000) -> None:
        if not callable(factory):
            raise TypeError(f"factory must be callable, got {type(factory).__name__}")
        self._factory = factory
        self._max_keys = _validate.integer("max_keys", max_keys, at_least=1)
        self._buckets: OrderedDict[Hashable, L] = OrderedDict()
        self._lock = threading.Lock()
        self._evicted = 0
        self._evicted_busy = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._buckets

    @property
    def max_keys(self) -> int:
        return self._max_keys

    @property
    def evicted(self) -> int:
        """Buckets dropped to stay within ``max_keys``."""
        return self._evicted

    @property
    def evicted_busy(self) -> int:
        """Of those, the ones that were not idle (their clients' limits were forgotten)."""
        return self._evicted_busy

    def bucket(self, key: Hashable) -> L:
        """The bucket for ``key``, created on first use; marks it recently used.

        ``acquire()`` and ``try``/``finally`` ``release()`` rather than ``with``: the same
        lock held over the same code, without ``__enter__`` and ``__exit__(None, None,
        None)`` calls (0.15 -> 0.07 us on CPython 3.11, on every request RateLimit sees,
        in here and in :meth:`TokenBucket._take`).
        """
        lock = self._lock
        lock.acquire()
        try:
            buckets = self._buckets
            b = buckets.get(key)
            if b is not None:
                buckets.move_to_end(key)
                return b
            b = self._factory()
            buckets[key] = b
            while len(buckets) > self._max_keys:
                _, old = buckets.popitem(last=False)
                self._evicted += 1
                if not old.is_idle():
                    self._evicted_busy += 1
            return b
        finally:
            lock.release()

    def try_acquire(self, key: Hashable, cost: int = 1) -> Decision:
        """``bucket(key).try_acquire(cost)``."""
        return self.bucket(key).try_acquire(cost)

    async def acquire(
        self, key: Hashable, cost: int = 1, *, timeout: float | None = None
    ) -> Decision:
        """``await bucket(key).acquire(cost, timeout=timeout)``."""
        return await self.bucket(key).acquire(cost, timeout=timeout)

    def prune(self) -> int:
        """Drop every idle bucket (each is equivalent to a fresh one); return how many."""
        with self._lock:
            idle = [k for k, b in self._buckets.items() if b.is_idle()]
            for k in idle:
                del self._buckets[k]
            return len(idle)
