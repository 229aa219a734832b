"""Running a request's handler as a G and getting its response back to trio.

Two threads of control meet here. A connection task on trio's loop parses a request and
starts a G for its handler (:meth:`Exchange.start`); the G runs on one of the runtime's Ms
and finishes with a :class:`Response`. Trio must learn that without blocking its loop,
the problem ``trio.to_thread`` solves in the other direction. The pieces:

- :class:`Exchange` is one request in flight. It is registered in the G's
  ``add_waiter``, so the runtime calls :meth:`Exchange.release` when the G finishes (or
  when the runtime closes with the G unfinished), under the scheduler lock, from any
  thread. For a streaming body the G also pushes chunks into the exchange, with
  credit-based flow control: past ``window`` unsent bytes the G parks (a coroutine G, via
  ``gopark``) or blocks its thread (a plain-callable G, which sysmon's handoff already
  treats as a blocking call), until the connection has written enough. That is Go's
  ``ResponseWriter.Write`` blocking on a slow client.
- :class:`Dispatcher` carries "something happened to this exchange" notices to trio. A
  notice is appended to a list; only the first notice of a batch calls
  ``TrioToken.run_sync_soon`` (one wake-up write on trio's self-pipe); one callback on
  trio's loop then reschedules every waiting connection task. Under load many Gs finish
  between two turns of trio's loop, so most completions cost a list append, not a
  cross-thread wake-up (the measurement is in ``bench/http/README.md``).

Cancellation follows the trio bridge (``gmp/trio_bridge.py``): the G runs inside a
:class:`gmp.CancelScope`; if the connection task is cancelled (forced shutdown, write
timeout) the scope is cancelled, the connection stops waiting at once, and the G sees
``gmp.Cancelled`` at its next checkpoint. The exchange stays registered, so the server's
in-flight count drops only when the G has really finished: an abandoned G is never lost
from the books.

Lock order: an exchange's lock, then the scheduler lock (the ``gopark`` pattern of
``gmp/runtime/park.py``); the dispatcher's lock is a leaf taken under either.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import outcome
import trio

from gmp.cancel import CancelScope
from gmp.http.errors import ClientDisconnected
from gmp.http.request import Handler, Request
from gmp.http.response import Response, as_response
from gmp.runtime.g import G
from gmp.runtime.park import current, park, ready

if TYPE_CHECKING:
    from gmp.runtime.runtime import Runtime

__all__ = ["ClientDisconnected", "Dispatcher", "Exchange", "Handler"]


class Dispatcher:
    """Batches G-completion notices into one trio wake-up (see the module docstring).

    ``batch=False`` sends one ``run_sync_soon`` per notice: the unbatched design, kept
    for the measurement in ``bench/http``.
    """

    __slots__ = ("_lock", "_queue", "_scheduled", "_token", "batch", "wakeups")

    def __init__(self, token: trio.lowlevel.TrioToken, *, batch: bool = True) -> None:
        self._token = token
        self._lock = threading.Lock()
        self._queue: list[Exchange] = []
        self._scheduled = False
        self.batch = batch
        self.wakeups = 0  # how many run_sync_soon calls were made (stats, measurements)

    def notify(self, ex: Exchange) -> None:
        """Queue a notice for ``ex`` (any thread; never blocks on trio)."""
        if not self.batch:
            self.wakeups += 1
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(ex.on_notice)
            return
        with self._lock:
            self._queue.append(ex)
            if self._scheduled:
                return
            self._scheduled = True
            self.wakeups += 1
        with contextlib.suppress(trio.RunFinishedError):  # trio gone: nobody waits
            self._token.run_sync_soon(self._drain)

    def _drain(self) -> None:
        """On trio's loop: deliver every queued notice."""
        with self._lock:
            queue = self._queue
            self._queue = []
            self._scheduled = False
        for ex in queue:
            ex.on_notice()


class Exchange:
    """One request in flight between a connection task (trio) and a handler G.

    Fields named ``t_*`` belong to trio's thread; the rest are shared and guarded by
    ``lock`` (except ``released``, written once by the runtime and read by trio after the
    dispatcher's lock has ordered the two).
    """

    __slots__ = (
        "chunks",
        "closed",
        "dispatcher",
        "finished_cb",
        "g",
        "head",
        "lock",
        "override",
        "parked",
        "pending",
        "released",
        "scope",
        "sync_waiter",
        "t_done",
        "t_task",
        "want",
        "window",
    )

    def __init__(
        self, dispatcher: Dispatcher, window: int, finished_cb: Callable[[Exchange], None]
    ) -> None:
        self.dispatcher = dispatcher
        self.window = window
        self.finished_cb = finished_cb
        self.lock = threading.Lock()
        self.g: G[Any] | None = None
        self.scope = CancelScope()
        # streaming state (under lock)
        self.head: Response | None = None
        self.override: Response | None = None  # answered early (a deadline); see early()
        self.chunks: list[bytes] = []
        self.pending = 0  # bytes pushed by the G and not yet written
        self.closed = False  # the connection will write nothing more: producers stop
        self.want = False  # the connection task waits for a streaming event
        self.parked: G[Any] | None = None  # a coroutine G[Any] waiting for credit
        self.sync_waiter: threading.Lock | None = None  # a plain G waiting for credit
        # completion
        self.released = False
        self.t_done = False
        self.t_task: trio.lowlevel.Task | None = None

    # -- trio side --------------------------------------------------------------------

    def start(self, rt: Runtime, handler: Handler, is_async: bool, req: Request) -> None:
        """Start the handler's G and register for its completion (trio's thread)."""
        runner = _run_async if is_async else _run_plain
        sched = rt._sched
        self.scope._rt = sched
        req.exchange = self
        g = sched.spawn(runner, (handler, req, self), None, None, [self.scope])
        self.g = g
        if g.add_waiter(self.release):
            return
        # Finished before we could register (another M ran it already).
        self.released = True
        self.on_notice()

    def on_notice(self) -> None:
        """Something changed (trio's thread): account a finished G, wake the task."""
        if self.released and not self.t_done:
            self.t_done = True
            self.finished_cb(self)
        task = self.t_task
        if task is not None:
            self.t_task = None
            trio.lowlevel.reschedule(task)

    async def wait(self, *, head_taken: bool = False) -> None:
        """Wait until the G finished, or (streaming) a head or chunks are available.

        ``head_taken``: the connection already wrote the head; wait for chunks or the end.
        """
        while True:
            if self.t_done:
                return
            with self.lock:
                if self.chunks or (self.head is not None and not head_taken):
                    return
                if self.override is not None and not head_taken:
                    return
                self.want = True
            self.t_task = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)

    def _abort(self, raise_cancel: Any) -> trio.lowlevel.Abort:
        # The connection is being cancelled: stop waiting now, cancel the G, and make a
        # streaming producer give up. The G's completion is still accounted later.
        self.t_task = None
        self.abandon()
        return trio.lowlevel.Abort.SUCCEEDED

    def abandon(self) -> None:
        """The connection will not write this response: cancel the G, free producers."""
        with self.lock:
            self.closed = True
            self.want = False
            g = self.parked
            self.parked = None
            waiter = self.sync_waiter
            self.sync_waiter = None
            self.chunks = []
        if g is not None:
            ready(g, None, ClientDisconnected("the client connection is gone"))
        if waiter is not None:
            waiter.release()
        if not self.t_done:
            self.scope.cancel()

    def take_chunks(self) -> list[bytes]:
        """The chunks pushed so far (trio's thread); the caller writes then :meth:`sent`."""
        with self.lock:
            chunks = self.chunks
            self.chunks = []
            return chunks

    def sent(self, nbytes: int) -> None:
        """``nbytes`` reached the socket: give the producer credit back."""
        with self.lock:
            self.pending -= nbytes
            if self.pending > self.window // 2:
                return
            g = self.parked
            self.parked = None
            waiter = self.sync_waiter
            self.sync_waiter = None
        if g is not None:
            ready(g)
        if waiter is not None:
            waiter.release()

    def outcome(self) -> outcome.Outcome[Any]:
        """The finished G's result (trio's thread, after :meth:`wait` saw it done)."""
        g = self.g
        if g is None or not g.done():
            return outcome.Error(RuntimeError("the runtime closed before the handler finished"))
        exc = g.exc
        if exc is not None:
            return outcome.Error(exc)
        return outcome.Value(g.value)

    # -- runtime side -----------------------------------------------------------------

    def release(self) -> None:
        """The G finished, or the runtime closed (scheduler lock held, any thread)."""
        self.released = True
        self.dispatcher.notify(self)

    # -- answering before the G finishes ------------------------------------------------

    def early(self, resp: Response) -> bool:
        """Answer with ``resp`` now, while the handler G still runs (any thread).

        What a deadline does (``gmp.http.middleware.Timeout``; Go's ``TimeoutHandler``
        writes its 503 from the outer goroutine the same way): the connection writes
        ``resp`` and moves on; the G is then abandoned, so a coroutine handler is
        cancelled at its next checkpoint and a plain one's result is dropped, while the
        server still counts it in flight until it really ends. Returns False, doing
        nothing, when it is too late: a streaming response began, the connection is
        gone, or an early answer was already given.
        """
        if type(resp.body) is not bytes:
            raise TypeError("an early response must have a bytes body")
        with self.lock:
            if self.head is not None or self.override is not None or self.closed:
                return False
            self.override = resp
            wake = self.want
            self.want = False
        if wake:
            self.dispatcher.notify(self)
        return True

    # -- G side (streaming bodies) ------------------------------------------------------

    def _push_locked(self, chunk: bytes) -> bool:
        """Append a chunk (lock held); returns whether the connection must be woken."""
        self.chunks.append(chunk)
        self.pending += len(chunk)
        wake = self.want
        self.want = False
        return wake

    def start_stream(self, resp: Response) -> None:
        """The head of a streaming response is ready (from the handler's G)."""
        with self.lock:
            if self.closed:
                raise ClientDisconnected("the client connection is gone")
            self.head = resp
            wake = self.want
            self.want = False
        if wake:
            self.dispatcher.notify(self)

    def write_sync(self, chunk: bytes) -> None:
        """Push a chunk from a plain-callable G; blocks its thread while over the window."""
        if not chunk:
            return
        lock = self.lock
        lock.acquire()
        if self.closed:
            lock.release()
            raise ClientDisconnected("the client connection is gone")
        wake = self._push_locked(chunk)
        waiter = None
        if self.pending > self.window:
            waiter = threading.Lock()
            waiter.acquire()
            self.sync_waiter = waiter
        lock.release()
        if wake:
            self.dispatcher.notify(self)
        if waiter is not None:
            waiter.acquire()
            if self.closed:
                raise ClientDisconnected("the client connection is gone")

    async def write_async(self, chunk: bytes) -> None:
        """Push a chunk from a coroutine G; parks the G while over the window."""
        if not chunk:
            return
        lock = self.lock
        lock.acquire()
        if self.closed:
            lock.release()
            raise ClientDisconnected("the client connection is gone")
        wake = self._push_locked(chunk)
        if wake:
            self.dispatcher.notify(self)  # the dispatcher's lock is a leaf: fine here
        if self.pending <= self.window:
            lock.release()
            return
        self.parked = current()
        # gopark: the M releases our lock (commit) only once this G is off its stack, so
        # sent()/abandon(), which take the lock first, always find a really parked G.
        await park(self._commit_park, self._abort_park)
        if self.closed:
            raise ClientDisconnected("the client connection is gone")

    def _commit_park(self, g: G[Any]) -> bool:
        self.lock.release()
        return True

    def _abort_park(self) -> bool:
        with self.lock:
            if self.parked is None:
                return False
            self.parked = None
            return True


def _is_async_iterable(body: object) -> bool:
    return hasattr(body, "__aiter__")


def _run_plain(handler: Handler, req: Request, ex: Exchange) -> Any:
    """The body of a plain-callable handler's G (a "syscall" G: handoff protects its P).

    A handler that returns an awaitable (a sync router that picked an ``async def``
    handler, a decorator) continues as a coroutine G: the runtime steps what we return.
    """
    result = handler(req)
    if type(result) is Response and type(result.body) is bytes:
        return result  # the common case, without isawaitable's ABC check
    if inspect.isawaitable(result):
        return _finish_async(result, req, ex)
    resp = as_response(result)
    if isinstance(resp.body, bytes):
        return resp
    if _is_async_iterable(resp.body):
        return _stream_async(resp, req, ex)
    _stream_sync(resp, req, ex)
    return None


async def _run_async(handler: Handler, req: Request, ex: Exchange) -> Response | None:
    """The body of an ``async def`` handler's G."""
    resp = as_response(await handler(req))
    if isinstance(resp.body, bytes):
        return resp
    await _stream_async(resp, req, ex)
    return None


async def _finish_async(result: Any, req: Request, ex: Exchange) -> Response | None:
    resp = as_response(await result)
    if isinstance(resp.body, bytes):
        return resp
    await _stream_async(resp, req, ex)
    return None


def _stream_sync(resp: Response, req: Request, ex: Exchange) -> None:
    """Produce a sync iterable body in a plain-callable G."""
    body = resp.body
    assert not isinstance(body, bytes) and not _is_async_iterable(body)
    it: Iterator[bytes] = iter(body)  # type: ignore[arg-type]
    try:
        ex.start_stream(resp)
        if req.method == "HEAD":
            return
        for chunk in it:
            ex.write_sync(_as_bytes(chunk))
    finally:
        _close_iter(it, body)


async def _stream_async(resp: Response, req: Request, ex: Exchange) -> None:
    """Produce a body (sync or async iterable) in a coroutine G."""
    body = resp.body
    ex.start_stream(resp)
    if _is_async_iterable(body):
        ait: AsyncIterator[bytes] = aiter(body)  # type: ignore[arg-type]
        try:
            if req.method != "HEAD":
                async for chunk in ait:
                    await ex.write_async(_as_bytes(chunk))
        finally:
            aclose = getattr(ait, "aclose", None)
            if aclose is not None:
                await aclose()
        return
    it: Iterator[bytes] = iter(body)  # type: ignore[arg-type]
    try:
        if req.method != "HEAD":
            for chunk in it:
                await ex.write_async(_as_bytes(chunk))
    finally:
        _close_iter(it, body)


def _as_bytes(chunk: object) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise TypeError(f"a streaming body must yield bytes or str, got {type(chunk).__name__}")


def _close_iter(it: Iterator[bytes], body: object) -> None:
    """Close a generator body early (and a WSGI result, which ``body.close`` covers)."""
    close = getattr(it, "close", None)
    if close is not None:
        close()
    if body is not it:
        close = getattr(body, "close", None)
        if close is not None:
            close()
