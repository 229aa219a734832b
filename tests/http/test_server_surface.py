"""The two servers (``Server`` on gmp's poller, ``TrioServer`` on trio's loop) share one
surface, written once in ``gmp.http.serverbase``.

Laws, for each server class, before it serves:

- a non-callable app is a ``TypeError`` naming its type; an unknown option is the
  config's own ``TypeError``;
- keyword options override the fields of a given config and keep the others;
- ``is_async`` is True for an ``async def`` handler and for an object whose ``__call__``
  is one, False for a plain function;
- ``port`` raises until the server listens; ``listening`` and ``draining`` are False,
  and ``wait_started`` times out;
- ``stats()`` reports zeros (nothing accepted, no wake-ups).
"""

from __future__ import annotations

from typing import Any

import pytest

from gmp.http import Request, Response, Server, ServerConfig, ServerStats, TrioServer

SERVERS = [Server, TrioServer]


def plain(req: Request) -> Response:
    return Response(200, b"ok")


async def coroutine(req: Request) -> Response:
    return Response(200, b"ok")


class AsyncApp:
    async def __call__(self, req: Request) -> Response:
        return Response(200, b"ok")


@pytest.mark.parametrize("cls", SERVERS)
def test_a_non_callable_app_is_a_type_error_naming_it(cls: Any) -> None:
    with pytest.raises(TypeError, match="app must be a callable handler, got int"):
        cls(42)


@pytest.mark.parametrize("cls", SERVERS)
def test_an_unknown_option_is_refused(cls: Any) -> None:
    with pytest.raises(TypeError, match="bogus"):
        cls(plain, bogus=1)


@pytest.mark.parametrize("cls", SERVERS)
def test_options_override_a_given_config_and_keep_the_rest(cls: Any) -> None:
    config = ServerConfig(port=0, procs=1, max_connections=7)
    server = cls(plain, config, procs=2)
    assert server.config.procs == 2
    assert server.config.max_connections == 7
    assert config.procs == 1  # the caller's config is not changed


@pytest.mark.parametrize("cls", SERVERS)
@pytest.mark.parametrize(
    ("app", "is_async"), [(plain, False), (coroutine, True), (AsyncApp(), True)]
)
def test_is_async_follows_the_handler(cls: Any, app: Any, is_async: bool) -> None:
    assert cls(app).is_async is is_async


@pytest.mark.parametrize("cls", SERVERS)
def test_before_serving_nothing_listens_and_the_counters_are_zero(cls: Any) -> None:
    server = cls(plain, port=0)
    with pytest.raises(RuntimeError, match="not listening yet"):
        _ = server.port
    assert not server.listening
    assert not server.draining
    assert server.wait_started(0.0) is False
    assert server.stats() == ServerStats(
        connections_open=0,
        connections_total=0,
        requests=0,
        inflight=0,
        rejected=0,
        bad_requests=0,
        too_large=0,
        timeouts=0,
        handler_errors=0,
        wakeups=0,
    )


def test_server_names_a_bad_ssl_argument_after_a_bad_app() -> None:
    with pytest.raises(TypeError, match=r"ssl must be an ssl\.SSLContext, got str"):
        Server(plain, ssl="cert.pem")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="app must be a callable handler, got int"):
        Server(42, ssl="cert.pem")  # type: ignore[arg-type]
