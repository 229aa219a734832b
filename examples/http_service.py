"""A small JSON service on gmp.http's Engine, with the production basics.

    python examples/http_service.py               # serve on 127.0.0.1:8000
    python examples/http_service.py --self-test   # serve on a free port, call it, stop

``/items/:id`` and ``POST /items`` are a JSON resource; ``/slow`` blocks its thread (the
other routes stay fast); ``/livez`` is a probe that the rate limit never refuses.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import attrs

from gmp.http import (
    Context,
    Engine,
    Logger,
    NotFound,
    RateLimit,
    Recovery,
    RequestID,
    Server,
    mount_health,
)
from gmp.http.cli import configure_logging
from gmp.resilience import KeyedLimiter, TokenBucket


@attrs.define
class Item:
    name: str
    qty: int = 1


def build() -> Engine:
    app = Engine()
    app.use(RequestID(), Logger(), Recovery())
    app.use(RateLimit(KeyedLimiter(lambda: TokenBucket(rate=50, burst=100))))
    mount_health(app)
    items: dict[int, Item] = {}
    lock = threading.Lock()

    @app.get("/items/:id")
    def get_item(c: Context) -> dict[str, Any]:
        item = items.get(c.param("id", int))
        if item is None:
            raise NotFound("no such item")
        return attrs.asdict(item)

    @app.post("/items")
    def create(c: Context) -> None:
        item = c.bind_json(Item)
        with lock:
            items[len(items) + 1] = item
            new_id = len(items)
        c.json(201, {"id": new_id})

    @app.get("/slow")
    def slow(c: Context) -> str:
        time.sleep(0.2)
        return "done"

    return app


def call(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def self_test() -> None:
    configure_logging()  # log lines to stderr, as `gmp serve` writes them
    server = Server(build(), port=0, access_log=False)
    thread = threading.Thread(target=server.run, kwargs={"handle_signals": False})
    thread.start()
    try:
        if not server.wait_started(30):
            raise RuntimeError("the server did not start")
        base = f"http://127.0.0.1:{server.port}"
        print(call(base, "POST", "/items", {"name": "gopher", "qty": 2}))
        print(call(base, "GET", "/items/1"))
        print(call(base, "GET", "/items/2"))
        print(call(base, "POST", "/items", {"name": 5}))
        print(call(base, "GET", "/livez")[0])
    finally:
        server.shutdown_threadsafe()
        thread.join(30)


if __name__ == "__main__":
    if "--self-test" in sys.argv[1:]:
        self_test()
    else:
        build().run()
