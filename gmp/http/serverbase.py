"""What both of gmp's HTTP servers are, written once.

:class:`~gmp.http.Server` serves on gmp's network poller and :class:`~gmp.http.TrioServer`
on trio's loop. They differ in who owns the sockets and how a finished handler reaches
its connection, and in little a caller sees (TrioServer serves no TLS, and only it
counts wake-ups of its loop). What they share:

- the arguments and their errors;
- the counters and :meth:`stats`;
- ``port``, ``listening``, ``draining`` and ``wait_started``;
- the runtime made from the config;
- the "listening" and access log lines.

This module holds those, so the two servers cannot drift apart. Each server still owns
its locking: ``Server`` reads the counters under its lock, which its Ms share. The trio
server's are written by trio's thread only, so one load a field is a consistent read
there.
"""

from __future__ import annotations

import inspect
import threading
import time
from typing import TYPE_CHECKING, Any

import attrs

from gmp.http.config import ServerConfig, ServerStats
from gmp.http.request import Handler, Request
from gmp.observe.log import get_logger
from gmp.runtime.runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import Sized

__all__ = ["Counters", "ServerBase", "access_logger", "is_async_handler"]

_log = get_logger("gmp.http.server")
access_logger = get_logger("gmp.http.access")


@attrs.define
class Counters:
    """What :meth:`ServerBase.stats` reports besides the open connections and in-flight
    requests; each server guards them its own way (see the module docstring)."""

    connections_total: int = 0
    requests: int = 0
    rejected: int = 0
    bad_requests: int = 0
    too_large: int = 0
    timeouts: int = 0
    handler_errors: int = 0


def is_async_handler(app: object) -> bool:
    """Whether ``app`` is an ``async def`` handler (function or object with one)."""
    if inspect.iscoroutinefunction(app):
        return True
    call = getattr(app, "__call__", None)  # noqa: B004 - we want the bound method itself
    return not inspect.isroutine(app) and inspect.iscoroutinefunction(call)


class ServerBase:
    """The state and public surface the two servers share (see the module docstring).

    A subclass sets ``_conns`` (its open connections) and ``_shutdown`` (an event, set
    once a shutdown began) in its own ``__init__``, after calling this one.
    """

    _conns: Sized
    _shutdown: Any  # threading.Event or trio.Event: both have is_set()

    def __init__(
        self,
        app: Handler,
        config: ServerConfig | None,
        runtime: Runtime | None,
        options: dict[str, Any],
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a callable handler, got {type(app).__name__}")
        if config is None:
            config = ServerConfig(**options)
        elif options:
            config = attrs.evolve(config, **options)
        self.app = app
        self.config = config
        self.is_async = is_async_handler(app)
        # An Engine with a Logger writes the access line of every request it runs;
        # the server then writes lines only for requests the app never saw.
        self._app_logs = bool(getattr(app, "logs_requests", False))
        self.runtime = runtime
        self.addresses: list[tuple[str, int]] = []
        self._counters = Counters()
        self._inflight = 0
        self._stopping = False  # the drain began: a connection accepted now closes at once
        self._started = threading.Event()

    # -- public API ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port of the first listening socket (after the server started)."""
        if not self.addresses:
            raise RuntimeError("the server is not listening yet")
        return self.addresses[0][1]

    @property
    def draining(self) -> bool:
        """True once a shutdown began: readiness probes should fail from then on."""
        return bool(self._shutdown.is_set())

    @property
    def listening(self) -> bool:
        """True once the server accepts connections."""
        return self._started.is_set()

    def wait_started(self, timeout: float | None = None) -> bool:
        """Block until the server listens (for code that started it in another thread)."""
        return self._started.wait(timeout)

    # -- for the servers -----------------------------------------------------------

    def _snapshot(self, wakeups: int) -> ServerStats:
        """The counters as :class:`ServerStats` (the caller holds whatever guards them)."""
        c = self._counters
        return ServerStats(
            connections_open=len(self._conns),
            connections_total=c.connections_total,
            requests=c.requests,
            inflight=self._inflight,
            rejected=c.rejected,
            bad_requests=c.bad_requests,
            too_large=c.too_large,
            timeouts=c.timeouts,
            handler_errors=c.handler_errors,
            wakeups=wakeups,
        )

    def _new_runtime(self) -> Runtime:
        """The runtime a server makes for itself when given none (``config.procs``)."""
        cfg = self.config
        return Runtime(
            cfg.procs,
            handoff_after=cfg.handoff_after,
            sysmon_interval=cfg.sysmon_interval,
            shutdown_timeout=cfg.shutdown_timeout,
            cancel_grace=min(1.0, cfg.shutdown_timeout),
        )

    def _log_listening(self, **extra: Any) -> None:
        assert self.runtime is not None
        _log.info(
            "listening",
            addresses=[f"{h}:{p}" for h, p in self.addresses],
            host=self.addresses[0][0],
            port=self.addresses[0][1],
            procs=self.runtime.procs,
            handler="async" if self.is_async else "sync",
            **extra,
        )

    def _log_access(
        self, req: Request, status: int, nbytes: int, started: float, *, app_ran: bool = True
    ) -> None:
        if self.config.access_log and not (app_ran and self._app_logs):
            client = req.client
            access_logger.info(
                "request",
                method=req.method,
                path=req.path,
                status=status,
                bytes=nbytes,
                ms=round((time.perf_counter() - started) * 1000, 3),
                client=f"{client[0]}:{client[1]}" if client else None,
            )
