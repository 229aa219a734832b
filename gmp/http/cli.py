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
import gc
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import structlog

from gmp.http.config import ServerConfig
from gmp.http.server import Server
from gmp.http.wsgi import WSGIAdapter
from gmp.observe.log import (
    BufferedLineWriter,
    FastTimeStamper,
    get_logger,
    json_renderer,
    sink_logger_factory,
)

__all__ = ["add_serve_parser", "build_parser", "load_app", "main", "run_serve"]

_log = get_logger("gmp.http.cli")

# The batched stderr sink the last configure_logging installed, closed when a later call
# replaces it: each open sink keeps a flusher thread waking every flush interval, and a
# process (or a test session) that configures logging again must not collect them.
_sink_lock = threading.Lock()
_sink: BufferedLineWriter | None = None
_DEFAULTS = ServerConfig()


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, True) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to an ``argparse`` subparsers object; returns the new parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve an HTTP app; every connection is a G running its handlers",
        description=(
            "Serve MODULE:APP over HTTP/1.1. APP is a gmp.http.Engine (the Gin-like "
            "framework), a gmp handler (def or async def taking a gmp.http.Request, "
            "returning a gmp.http.Response) or a WSGI application (Flask, Django); the kind "
            "is detected at startup (--wsgi only confirms it). Each connection is a G that "
            "runs its requests' handlers. "
            "SIGINT or SIGTERM shuts down gracefully (a second one forces it). "
            "Not supported: ASGI apps, HTTP/2, WebSocket."
        ),
        formatter_class=_DefaultsFormatter,
    )
    p.add_argument("app", metavar="MODULE:APP", help="the app, e.g. myservice.web:app")
    p.add_argument("--host", default=_DEFAULTS.host, help="address to listen on")
    p.add_argument("--port", type=int, default=_DEFAULTS.port, help="port (0: any free port)")
    p.add_argument(
        "--procs",
        type=int,
        default=None,
        help="Ps per process (GOMAXPROCS); unset: GMP_PROCS, else the number of CPUs",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the port with SO_REUSEPORT",
    )
    p.add_argument(
        "--wsgi",
        action="store_true",
        help="APP is a WSGI application (detected without it; with it, a gmp app is refused)",
    )
    p.add_argument(
        "--reuse-port", action="store_true", help="set SO_REUSEPORT (implied by --workers > 1)"
    )
    p.add_argument(
        "--max-inflight",
        type=int,
        default=_DEFAULTS.max_inflight,
        help="handlers running at once before 503 + Retry-After",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=_DEFAULTS.max_connections,
        help="open connections before accepting pauses",
    )
    p.add_argument(
        "--max-body",
        type=int,
        default=_DEFAULTS.max_body,
        help="largest request body in bytes, else 413",
    )
    p.add_argument(
        "--keepalive-timeout",
        type=float,
        default=_DEFAULTS.keepalive_timeout,
        help="idle keep-alive seconds",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=_DEFAULTS.shutdown_timeout,
        help="seconds in-flight requests get on shutdown",
    )
    p.add_argument(
        "--handoff-after",
        type=float,
        default=_DEFAULTS.handoff_after,
        help="seconds a blocked G keeps its P before sysmon hands it off",
    )
    p.add_argument(
        "--certfile",
        metavar="FILE",
        default=None,
        help="serve HTTPS with this PEM certificate chain (the key too, unless --keyfile)",
    )
    p.add_argument(
        "--keyfile",
        metavar="FILE",
        default=None,
        help="the PEM private key of --certfile",
    )
    p.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not log one line per request (an Engine's Logger still logs its own)",
    )
    p.add_argument(
        "--log-format",
        choices=("console", "json"),
        default="console",
        help="structlog renderer of every line (server and access)",
    )
    p.add_argument(
        "--log-flush-interval",
        type=float,
        default=0.1,
        metavar="SECONDS",
        help="write log lines in batches this often (0: every line at once). "
        "A write per line costs each request a GIL hand-over",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="lowest level logged",
    )
    p.add_argument(
        "--log-config",
        metavar="FILE",
        default=None,
        help="a logging configuration for the standard library's logging: .json or .toml "
        "(dictConfig) or .ini (fileConfig). Lines then go through the loggers it sets up "
        "(gmp.http.access, gmp.http.server, ...), still rendered by --log-format",
    )
    p.add_argument(
        "--reload",
        action="store_true",
        help="restart the server when a .py file under --reload-dir changes (development "
        "only; needs watchfiles: pip install 'gmp-runtime[reload]')",
    )
    p.add_argument(
        "--reload-dir",
        action="append",
        metavar="DIR",
        default=None,
        help="a directory to watch with --reload (repeatable; default: the current one)",
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
    fmt: str = "console",
    level: str = "info",
    flush_interval: float = 0.0,
    *,
    log_config: str | None = None,
    worker: str | None = None,
) -> None:
    """Configure structlog for the server process (an app embedding the server does
    its own). Lines go to stderr; ``json`` gives one JSON object per line.
    ``flush_interval`` > 0 batches lines (:class:`gmp.observe.log.BufferedLineWriter`).

    Every line, the server's own and the access lines, gets the same timestamp format
    (``FastTimeStamper``), and with ``worker`` (``gmp serve --workers``) a ``worker``
    field. ``log_config``: a standard-library logging configuration (uvicorn's
    ``--log-config``); lines are rendered as above, then handed to the stdlib logger of
    their name (``gmp.http.access``, ...), whose handlers and levels the file sets."""
    renderer: Any = (
        json_renderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[Any] = [structlog.contextvars.merge_contextvars]
    if worker is not None:
        processors.append(_add_worker(worker))
    processors += [
        structlog.processors.add_log_level,
        FastTimeStamper(),
        structlog.processors.format_exc_info,
        renderer,
    ]
    factory: Any
    sink: BufferedLineWriter | None = None
    if log_config is not None:
        _apply_log_config(log_config)
        factory = structlog.stdlib.LoggerFactory()
    elif flush_interval > 0:
        sink = BufferedLineWriter(sys.stderr, interval=flush_interval)
        factory = sink_logger_factory(sink)
    else:
        factory = structlog.PrintLoggerFactory(sys.stderr)
    global _sink
    with _sink_lock:
        structlog.configure(
            processors=processors,
            wrapper_class=structlog.make_filtering_bound_logger(
                getattr(logging, level.upper(), logging.INFO)
            ),
            logger_factory=factory,
            cache_logger_on_first_use=True,
        )
        old, _sink = _sink, sink
    if old is not None:
        old.close()  # its last lines are written; a logger cached on it writes through


def _add_worker(worker: str) -> Any:
    def add_worker(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("worker", worker)
        return event

    return add_worker


def _apply_log_config(path: str) -> None:
    """Load a stdlib logging configuration: ``.json``/``.toml`` with ``dictConfig``,
    anything else with ``fileConfig`` (uvicorn's ``--log-config`` accepts the same)."""
    import logging.config

    if not os.path.isfile(path):
        raise StartupError(f"--log-config: no such file: {path}")
    try:
        if path.endswith(".json"):
            import json

            with open(path, encoding="utf-8") as f:
                logging.config.dictConfig(json.load(f))
        elif path.endswith(".toml"):
            import tomllib

            with open(path, "rb") as f:
                logging.config.dictConfig(tomllib.load(f))
        else:
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise StartupError(f"--log-config {path}: not a valid logging configuration: {e}") from e


class StartupError(Exception):
    """The server cannot start; the message is one line saying why and what to do.
    ``user_traceback``: the traceback of the user's own code that failed, if any."""

    def __init__(self, message: str, user_traceback: str | None = None) -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


def load_app(spec: str) -> Any:
    """Import ``module:attr`` (the current directory first on ``sys.path``, as uvicorn
    and gunicorn do). ``attr`` may be dotted.

    Raises :class:`StartupError`: a one-line message when the module or attribute does
    not exist, plus the user's traceback (without importlib's frames) when importing
    the module raised."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise StartupError(f"APP must look like MODULE:APP (e.g. web:app), got {spec!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise StartupError(
                f"cannot import module {module_name!r}: no such module "
                f"(looked in {os.getcwd()} and sys.path)"
            ) from None
        raise StartupError(
            f"importing {module_name!r} failed: {type(e).__name__}: {e}", _user_traceback(e)
        ) from None
    except Exception as e:
        raise StartupError(
            f"importing {module_name!r} failed: {type(e).__name__}: {e}", _user_traceback(e)
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise StartupError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without the frames of importlib and of this module."""
    import traceback

    te = traceback.TracebackException.from_exception(exc)
    te.stack = traceback.StackSummary.from_list(
        [
            f
            for f in te.stack
            if "importlib" not in f.filename and not f.filename.endswith("gmp/http/cli.py")
        ]
    )
    return "".join(te.format())


def app_kind(app: Any) -> str:
    """What kind of app this is: ``"gmp"`` (an Engine or a handler of one Request),
    ``"wsgi"`` (``app(environ, start_response)``, e.g. Flask or Django) or ``"asgi"``
    (``async app(scope, receive, send)``, not supported). uvicorn's interface detection
    (``--interface auto``), by the call signature."""
    import inspect

    from gmp.http.engine import Engine

    if isinstance(app, Engine):
        return "gmp"
    if hasattr(app, "wsgi_app"):
        return "wsgi"  # Flask
    call = app if inspect.isroutine(app) else type(app).__call__
    try:
        sig = inspect.signature(app)
    except (TypeError, ValueError):
        return "gmp"
    positional = [
        p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is p.empty]
    is_async = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(app)
    if len(required) == 3 and is_async:
        return "asgi"
    if len(required) == 2:
        return "wsgi"
    return "gmp"


def _freeze_heap() -> None:
    """Collect once, then move everything the app's import made into the collector's
    permanent generation (``gc.freeze``), as pre-fork servers do: full collections
    during serving then walk only what requests allocate, not the modules, routes and
    caches of a framework. Measured with Flask on ``gmp serve --wsgi`` under ``wrk -c64``:
    +3-5% req/s and p99 20 -> 14 ms (3 alternating rounds)."""
    gc.collect()
    gc.freeze()


def _resolve_app(args: argparse.Namespace) -> Any:
    """Load the app and check its kind against ``--wsgi`` (inferring it when absent)."""
    app = load_app(args.app)
    if not callable(app):
        raise StartupError(
            f"{args.app} is a {type(app).__name__}, not an app: point MODULE:APP at an "
            f"Engine, a handler function or a WSGI application"
        )
    kind = app_kind(app)
    if kind == "asgi":
        raise StartupError(
            f"{args.app} is an ASGI application; gmp serves gmp handlers, Engines and WSGI "
            f"apps only (run ASGI apps with uvicorn or hypercorn)"
        )
    if args.wsgi and kind == "gmp":
        raise StartupError(
            f"--wsgi given, but {args.app} is a gmp app ({type(app).__name__}), not WSGI: "
            f"drop --wsgi"
        )
    if kind == "wsgi":
        if not args.wsgi:
            _log.info("serving a WSGI application (detected; --wsgi is implied)", app=args.app)
        return WSGIAdapter(
            app,
            server_name=args.host,
            server_port=args.port,
            multiprocess=os.environ.get("GMP_HTTP_WORKER") is not None,
            url_scheme="https" if args.certfile else "http",
        )
    return app


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
        certfile=args.certfile,
        keyfile=args.keyfile,
    )


def _check_args(args: argparse.Namespace) -> None:
    """Refuse bad numbers before anything starts, one line each."""
    if args.workers < 1:
        raise StartupError(f"--workers must be at least 1, got {args.workers}")
    if args.procs is not None and args.procs < 1:
        raise StartupError(f"--procs must be at least 1, got {args.procs}")
    if not 0 <= args.port <= 65535:
        raise StartupError(f"--port must be from 0 to 65535 (0: any free port), got {args.port}")
    for name in ("max_inflight", "max_connections", "max_body"):
        if getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise StartupError(f"{flag} must be at least 1, got {getattr(args, name)}")
    for name in ("keepalive_timeout", "shutdown_timeout", "handoff_after"):
        if not getattr(args, name) > 0:
            flag = "--" + name.replace("_", "-")
            raise StartupError(f"{flag} must be more than 0, got {getattr(args, name)}")
    if args.reload and args.workers > 1:
        raise StartupError("--reload runs one process: it cannot be used with --workers")
    if args.keyfile and not args.certfile:
        raise StartupError("--keyfile needs --certfile (the certificate it belongs to)")
    for flag, path in (("--certfile", args.certfile), ("--keyfile", args.keyfile)):
        if path is not None and not os.path.isfile(path):
            raise StartupError(f"{flag}: no such file: {path}")


def _fail(error: StartupError) -> int:
    """Print a startup error: one line, then the user's traceback if there is one."""
    sys.stderr.write(f"gmp serve: error: {error}\n")
    if error.user_traceback:
        sys.stderr.write(error.user_traceback)
    sys.stderr.flush()
    return 2


def _bind_error(exc: BaseException, args: argparse.Namespace) -> StartupError | None:
    """The one-line error for a failure to listen, found inside an ExceptionGroup."""
    import errno

    leaves: list[BaseException] = []
    stack = [exc]
    while stack:
        e = stack.pop()
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
        else:
            leaves.append(e)
    for e in leaves:
        if isinstance(e, OSError):
            where = f"{args.host}:{args.port}"
            if e.errno == errno.EADDRINUSE:
                return StartupError(
                    f"cannot listen on {where}: the address is in use (another server "
                    f"has the port); choose another with --port or stop that server"
                )
            if e.errno == errno.EACCES:
                return StartupError(
                    f"cannot listen on {where}: permission denied (ports below 1024 need "
                    f"privileges); choose another with --port"
                )
            return StartupError(f"cannot listen on {where}: {e.strerror or e}")
        if isinstance(e, ValueError):
            return StartupError(str(e))
    return None


def run_serve(args: argparse.Namespace) -> int:
    """Run ``serve`` with parsed ``args``; returns the exit code."""
    # A worker of --workers N is named by the supervisor; the supervisor names itself.
    worker = os.environ.get("GMP_HTTP_WORKER") or ("supervisor" if args.workers > 1 else None)
    try:
        _check_args(args)
        configure_logging(
            args.log_format,
            args.log_level,
            args.log_flush_interval,
            log_config=args.log_config,
            worker=worker,
        )
        if args.reload:
            return _reload(args)
        if args.workers > 1:
            return _supervise(args)
        app = _resolve_app(args)
        config = _config(args, port=args.port, reuse_port=args.reuse_port)
        try:
            server = Server(app, config)
        except OSError as e:  # ssl.SSLError is an OSError
            raise StartupError(
                f"--certfile/--keyfile: cannot load the certificate and key: {e}"
            ) from None
    except StartupError as e:
        return _fail(e)
    _freeze_heap()
    try:
        return server.run()
    except BaseException as e:  # a failure to start: bind, runtime settings
        error = _bind_error(e, args)
        if error is None:
            raise
        return _fail(error)


def _reload(args: argparse.Namespace) -> int:
    """``--reload``: run the server in a child process and restart it when a Python
    file changes (watchfiles' ``run_process``, as uvicorn's ``--reload`` does)."""
    try:
        import watchfiles
    except ImportError:
        raise StartupError(
            "--reload needs watchfiles: pip install 'gmp-runtime[reload]' (or watchfiles)"
        ) from None
    dirs = args.reload_dir or [os.getcwd()]
    for d in dirs:
        if not os.path.isdir(d):
            raise StartupError(f"--reload-dir: no such directory: {d}")
    argv = [a for a in _worker_argv(args, args.port) if a != "--reuse-port"]
    argv[argv.index("--workers") + 1] = "1"
    if args.log_config:
        argv += ["--log-config", args.log_config]

    def changed(changes: set[tuple[Any, str]]) -> None:
        _log.info("files changed; restarting", files=sorted({p for _, p in changes})[:5])

    _log.info("watching for changes", dirs=dirs)
    watchfiles.run_process(
        *dirs,
        target=" ".join(_quote(a) for a in argv),
        target_type="command",
        callback=changed,
        watch_filter=watchfiles.PythonFilter(),
    )
    return 0


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


# -- --workers N: a supervisor of worker processes -----------------------------------


def _worker_argv(args: argparse.Namespace, port: int) -> list[str]:
    argv = [sys.executable, "-m", "gmp.http", "serve", args.app]
    argv += ["--host", args.host, "--port", str(port), "--workers", "1", "--reuse-port"]
    if args.log_config:
        argv += ["--log-config", args.log_config]
    if args.certfile:
        argv += ["--certfile", args.certfile]
    if args.keyfile:
        argv += ["--keyfile", args.keyfile]
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
    argv = _worker_argv(args, port)
    started_count = [0]
    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def start() -> tuple[subprocess.Popen[bytes], float]:
        # Own session: a terminal's Ctrl-C reaches only us, and we forward it once
        # (a second signal would force the workers' shutdown). Each worker is numbered
        # (GMP_HTTP_WORKER), and its log lines carry the number.
        started_count[0] += 1
        env = dict(os.environ, GMP_HTTP_WORKER=f"w{started_count[0]}")
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
