"""Apps for the first-hour tests, served by `gmp serve` in a subprocess."""

from __future__ import annotations

from typing import Any

from flask import Flask

from gmp.http import Context, Engine, Request, Response

engine = Engine.default()


@engine.get("/d")
def _dict(c: Context) -> dict[str, Any]:
    return {"a": 1}


@engine.get("/s")
def _text(c: Context) -> None:
    c.string(200, "hello")


flask_app = Flask(__name__)


@flask_app.route("/f")
def _flask() -> str:
    return "from flask"


def handler(req: Request) -> Response:
    return Response.text("plain handler")


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:  # an ASGI app
    raise AssertionError("never called")


not_an_app = 42
