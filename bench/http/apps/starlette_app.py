"""Starlette for uvicorn and hypercorn. /block is an ``async def`` calling time.sleep:
the blocking call in a coroutine that the issue's availability figures are about."""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


async def json_(request: Request) -> JSONResponse:
    return JSONResponse({"message": "Hello, World!"})


async def block(request: Request) -> PlainTextResponse:
    time.sleep(0.05)
    return PlainTextResponse("blocked")


app = Starlette(routes=[Route("/ping", ping), Route("/json", json_), Route("/block", block)])
