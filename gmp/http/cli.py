"""``gmp serve module:app``: the command line of the HTTP server.

``add_serve_parser(subparsers)`` adds the ``serve`` subcommand to ``gmp``'s parser and
``run_serve(args)`` runs it; ``python -m gmp.http serve ...`` runs the same thing on its
own. With ``--workers N`` (N > 1) this process becomes a small supervisor, like
gunicorn's arbiter: it starts N worker processes that each listen on the same port with
``SO_REUSEPORT`` (the kernel spreads connections between them), forwards SIGINT/SIGTERM to
them once, restarts a worker that dies, and exits 0 when every worker shut down cleanly.
More than one interpreter is how a Python service uses more cores than one GIL allows;
beyond one machine, run several behind any load balancer.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import structlog

from gmp.http.config import ServerConfig
from gmp.http.server import Server
from gmp.http.wsgi import WSGIAdapter
from gmp.observe.log import FastTimeStamper, buffered_logger_factory, get_logger, json_renderer

__all__ = ["add_serve_parser", "build_parser", "load_app", "main", "run_serve"]

_log = get_logger("gmp.http.cli")
_DEFAULTS = ServerConfig()


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to an ``argparse`` subparsers object; returns the new parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve an HTTP app; every request runs as a G",
        description=(
            "Serve MODULE:APP over HTTP/1.1. APP is a gmp handler (def or async def taking "
            "a gmp.http.Request, returning a gmp.http.Response) or, with --wsgi, a WSGI "
            "application (Flask, Django). Each request's handler runs as a G. SIGINT or "
            "SIGTERM shuts down gracefully (a second one forces it)."
        ),
    )
    p.add_argument("app", metavar="MODULE:APP", help="the app, e.g. myservice.web:app")
    p.add_argument("--host", default=_DEFAULTS.host, help="address to listen on (%(default)s)")
    p.add_argument(
        "--port", type=int, default=_DEFAULTS.port, help="port (%(default)s; 0: any free port)"
    )
    p.add_argument(
        "--procs", type=int, default=None, help="Ps per process (GOMAXPROCS; default GMP_PROCS)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the port with SO_REUSEPORT (%(default)s)",
    )
    p.add_argument("--wsgi", action="store_true", help="APP is a WSGI application")
    p.add_argument(
        "--reuse-port", action="store_true", help="set SO_REUSEPORT (implied by --workers > 1)"
    )
    p.add_argument(
        "--max-inflight",
        type=int,
        default=_DEFAULTS.max_inflight,
        help="handlers running at once before 503 + Retry-After (%(default)s)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=_DEFAULTS.max_connections,
        help="open connections before accepting pauses (%(default)s)",
    )
    p.add_argument(
        "--max-body",
        type=int,
        default=_DEFAULTS.max_body,
        help="largest request body in bytes, else 413 (%(default)s)",
    )
    p.add_argument(
        "--keepalive-timeout",
        type=float,
        default=_DEFAULTS.keepalive_timeout,
        help="idle keep-alive seconds (%(default)s)",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=_DEFAULTS.shutdown_timeout,
        help="seconds in-flight requests get on shutdown (%(default)s)",
    )
    p.add_argument(
        "--handoff-after",
        type=float,
        default=_DEFAULTS.handoff_after,
        help="seconds a blocked G keeps its P before sysmon hands it off",
    )
    p.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not log one line per request",
    )
    p.add_argument(
        "--log-format",
        choices=("console", "json"),
        default="console",
        help="structlog renderer for the server's own logging (%(default)s)",
    )
    p.add_argument(
        "--log-flush-interval",
        type=float,
        default=0.1,
        metavar="SECONDS",
        help="write log lines in batches this often (%(default)s; 0: every line at once). "
        "A write per line costs each request a GIL hand-over",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="(%(default)s)",
    )
    p.set_defaults(func=run_serve)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The standalone parser of ``python -m gmp.http``."""
    parser = argparse.ArgumentParser(prog="python -m gmp.http")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m gmp.http serve ...``."""
    args = build_parser().parse_args(argv)
    return run_serve(args)


def configure_logging(
    fmt: str = "console", level: str = "info", flush_interval: float = 0.0
) -> None:
    """Configure structlog for the server process (an app embedding the server does
    its own). Lines go to stderr; ``json`` gives one JSON object per line.
    ``flush_interval`` > 0 batches lines (:class:`gmp.observe.log.BufferedLineWriter`)."""
    renderer: Any = (
        json_renderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            FastTimeStamper(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.INFO)
        ),
        logger_factory=(
            buffered_logger_factory(sys.stderr, interval=flush_interval)
            if flush_interval > 0
            else structlog.PrintLoggerFactory(sys.stderr)
        ),
        cache_logger_on_first_use=True,
    )


def load_app(spec: str) -> Any:
    """Import ``module:attr`` (the current directory first on ``sys.path``, as uvicorn
    and gunicorn do). ``attr`` may be dotted."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"app must look like MODULE:APP (e.g. web:app), got {spec!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _config(args: argparse.Namespace, *, port: int, reuse_port: bool) -> ServerConfig:
    return ServerConfig(
        host=args.host,
        port=port,
        reuse_port=reuse_port,
        procs=args.procs,
        handoff_after=args.handoff_after,
        max_connections=args.max_connections,
        max_inflight=args.max_inflight,
        max_body=args.max_body,
        keepalive_timeout=args.keepalive_timeout,
        shutdown_timeout=args.shutdown_timeout,
        access_log=args.access_log,
    )


def run_serve(args: argparse.Namespace) -> int:
    """Run ``serve`` with parsed ``args``; returns the exit code."""
    configure_logging(args.log_format, args.log_level, args.log_flush_interval)
    if args.workers < 1:
        _log.error("--workers must be at least 1", workers=args.workers)
        return 2
    if args.workers > 1:
        return _supervise(args)
    try:
        app = load_app(args.app)
        if args.wsgi:
            app = WSGIAdapter(
                app,
                server_name=args.host,
                server_port=args.port,
                multiprocess=os.environ.get("GMP_HTTP_WORKER") is not None,
            )
        server = Server(app, _config(args, port=args.port, reuse_port=args.reuse_port))
    except (ImportError, ValueError, TypeError) as e:
        _log.error("cannot start the server", app=args.app, error=str(e))
        return 2
    return server.run()


# -- --workers N: a supervisor of worker processes -----------------------------------


def _worker_argv(args: argparse.Namespace, port: int) -> list[str]:
    argv = [sys.executable, "-m", "gmp.http", "serve", args.app]
    argv += ["--host", args.host, "--port", str(port), "--workers", "1", "--reuse-port"]
    if args.procs is not None:
        argv += ["--procs", str(args.procs)]
    if args.wsgi:
        argv.append("--wsgi")
    argv += ["--max-inflight", str(args.max_inflight)]
    argv += ["--max-connections", str(args.max_connections)]
    argv += ["--max-body", str(args.max_body)]
    argv += ["--keepalive-timeout", str(args.keepalive_timeout)]
    argv += ["--shutdown-timeout", str(args.shutdown_timeout)]
    argv += ["--handoff-after", str(args.handoff_after)]
    if not args.access_log:
        argv.append("--no-access-log")
    argv += ["--log-format", args.log_format, "--log-level", args.log_level]
    argv += ["--log-flush-interval", str(args.log_flush_interval)]
    return argv


def _supervise(args: argparse.Namespace) -> int:
    """Start ``args.workers`` processes on one port; forward signals; restart crashes."""
    # Hold the port (bound, not listening: the kernel routes connections only to
    # listening members of the SO_REUSEPORT group) so port 0 resolves once for all.
    infos = socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)
    family, _, _, _, addr = infos[0]
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(addr)
    port = holder.getsockname()[1]
    env = dict(os.environ, GMP_HTTP_WORKER="1")
    argv = _worker_argv(args, port)
    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def start() -> tuple[subprocess.Popen[bytes], float]:
        # Own session: a terminal's Ctrl-C reaches only us, and we forward it once
        # (a second signal would force the workers' shutdown).
        return subprocess.Popen(argv, env=env, start_new_session=True), time.monotonic()

    workers = [start() for _ in range(args.workers)]
    _log.info(
        "supervising workers", workers=args.workers, port=port, pids=[w.pid for w, _ in workers]
    )
    forwarded = 0
    failed = False
    try:
        while True:
            if len(stopping) > forwarded:
                for w, _ in workers:
                    if w.poll() is None:
                        w.send_signal(signal.SIGTERM)
                forwarded = len(stopping)
            alive = 0
            for i, (w, started) in enumerate(workers):
                code = w.poll()
                if code is None:
                    alive += 1
                    continue
                if stopping:
                    if code != 0:
                        failed = True
                    continue
                if time.monotonic() - started < 1.0:
                    _log.error("worker died at start; stopping", pid=w.pid, exit_code=code)
                    failed = True
                    stopping.append(signal.SIGTERM)
                    continue
                _log.warning("worker died; restarting it", pid=w.pid, exit_code=code)
                workers[i] = start()
                alive += 1
            if stopping and alive == 0:
                break
            time.sleep(0.05)
    finally:
        holder.close()
        for w, _ in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    return 1 if failed else 0
