"""The same three endpoints through the framework: ``gmp.http.Engine`` with no middleware
(router + Context + chain; the "Logger-free chain" of the framework benchmark).

``/ping`` and ``/json`` are plain ``def`` handlers writing through the Context
(``c.string``, ``c.json``), as a Gin handler would; ``/block`` sleeps 50 ms.
"""

from __future__ import annotations

import time

from gmp.http import Context, Engine

app = Engine()


@app.get("/ping")
def ping(c: Context) -> None:
    c.string(200, "pong")


@app.get("/json")
def json_(c: Context) -> None:
    c.json(200, {"message": "Hello, World!"})


@app.get("/block")
def block(c: Context) -> None:
    time.sleep(0.05)
    c.string(200, "blocked")
