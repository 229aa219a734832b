"""The server's knobs and its counters, as frozen attrs records.

Defaults follow Go's ``http.Server`` where Go has one (``MaxHeaderBytes``,
``ReadHeaderTimeout``, ``IdleTimeout``, ``Shutdown``'s drain) and uvicorn's where Go leaves
the field unlimited (a 5 s keep-alive timeout). Every limit exists so that one client
cannot make the server hold unbounded memory, connections or Gs.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["ServerConfig", "ServerStats"]


def _positive(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


def _port(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError(f"port must be an int from 0 to 65535 (0: any free port), got {value!r}")


@attrs.frozen(kw_only=True)
class ServerConfig:
    """How a :class:`gmp.http.Server` listens, limits and times out.

    - ``host``/``port``: where to listen (port 0 picks a free port); ``backlog`` is the
      kernel's accept queue; ``reuse_port`` sets ``SO_REUSEPORT`` so several processes
      share the port (``gmp serve --workers N``).
    - ``procs``, ``handoff_after``, ``sysmon_interval``: the runtime the server creates
      when none is given. A server's Gs are short, so a G blocked for 1 ms is worth a
      handoff (the runtime's default is 3 ms): measured with /ping at -c32 beside 50 ms
      blocking handlers at -c8 (bench/http), /ping kept 45% of its unloaded rate at 3 ms
      (p99 13 ms) and 74% at 1 ms with sysmon every 0.5 ms (p99 4.9 ms).
    - ``max_connections``: past it the server stops accepting until a connection closes,
      leaving newcomers in the kernel backlog (Go's ``netutil.LimitListener``).
    - ``max_inflight``: handlers running at once; past it a request gets ``503`` with
      ``Retry-After: retry_after`` at once instead of queueing (backpressure).
    - ``max_request_line`` (414), ``max_header_bytes`` (431, Go's ``MaxHeaderBytes``),
      ``max_body`` (413).
    - ``header_timeout``: a new connection's first request head must arrive in time
      (Go's ``ReadHeaderTimeout``); ``read_timeout``: a whole request, from its first
      byte (Go's ``ReadTimeout``; 408 on expiry); ``keepalive_timeout``: how long an idle
      keep-alive connection is kept (Go's ``IdleTimeout``); ``write_timeout``: how long
      one write may wait for a slow reader before the connection is dropped.
    - ``shutdown_timeout``: how long a graceful shutdown lets in-flight requests finish.
    - ``linger_timeout``: after an error response, how long unread input is drained so
      the client sees the response rather than a reset (Go's ``closeWriteAndWait``).
    - ``stream_window`` (:class:`~gmp.http.trio_server.TrioServer` only): bytes a
      streaming body may run ahead of the socket before its G waits. :class:`Server`
      writes a body from the G that produces it, so the socket buffer is the window.
    - ``access_log``: one structlog line per response (logger ``gmp.http.access``).
    - ``batch_wakeups`` (TrioServer only): coalesce G completions into one trio wake-up
      (see ``gmp/http/dispatch.py``); off only for measurements.
    - ``certfile``/``keyfile``: serve HTTPS with this certificate chain and private key
      (PEM; ``keyfile`` may be omitted when ``certfile`` holds both). HTTP/1.1 is offered
      through ALPN; the handshake runs in the connection's G, so a slow client's handshake
      never holds up the accept loop (Go's ``ListenAndServeTLS``).
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, validator=_port)
    backlog: int = attrs.field(default=1024, validator=_positive)
    reuse_port: bool = False
    procs: int | None = None
    handoff_after: float = attrs.field(default=0.001, validator=_positive)
    sysmon_interval: float = attrs.field(default=0.0005, validator=_positive)
    max_connections: int = attrs.field(default=10_000, validator=_positive)
    max_inflight: int = attrs.field(default=1024, validator=_positive)
    retry_after: int = attrs.field(default=1, validator=_positive)
    max_request_line: int = attrs.field(default=8 * 1024, validator=_positive)
    max_header_bytes: int = attrs.field(default=64 * 1024, validator=_positive)
    max_body: int = attrs.field(default=16 * 1024 * 1024, validator=_positive)
    header_timeout: float = attrs.field(default=10.0, validator=_positive)
    read_timeout: float = attrs.field(default=30.0, validator=_positive)
    keepalive_timeout: float = attrs.field(default=5.0, validator=_positive)
    write_timeout: float = attrs.field(default=30.0, validator=_positive)
    shutdown_timeout: float = attrs.field(default=10.0, validator=_positive)
    linger_timeout: float = attrs.field(default=1.0, validator=_positive)
    stream_window: int = attrs.field(default=256 * 1024, validator=_positive)
    access_log: bool = True
    batch_wakeups: bool = True
    certfile: str | None = None
    keyfile: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.keyfile is not None and self.certfile is None:
            raise ValueError("keyfile given without certfile: HTTPS needs a certificate")


@attrs.frozen
class ServerStats:
    """A snapshot of the server's counters (:meth:`gmp.http.Server.stats`).

    ``inflight`` counts handler Gs not finished yet (an abandoned one still counts until
    it really ends); ``rejected`` counts 503s sent by backpressure; ``bad_requests``
    covers 400, 414, 417 and 431; ``timeouts`` counts 408s and slow writers dropped;
    ``handler_errors`` counts 500s; ``wakeups`` is how many times a G completion woke
    trio's loop under :class:`~gmp.http.trio_server.TrioServer` (fewer than ``requests``
    when completions were batched), always 0 under :class:`~gmp.http.Server`, where the
    connection's own G runs the handler.
    """

    connections_open: int
    connections_total: int
    requests: int
    inflight: int
    rejected: int
    bad_requests: int
    too_large: int
    timeouts: int
    handler_errors: int
    wakeups: int
