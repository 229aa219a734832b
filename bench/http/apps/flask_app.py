"""Flask for gunicorn (gthread) and for gmp's WSGI adapter (``gmp serve --wsgi``)."""

from __future__ import annotations

import time

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/ping")
def ping() -> tuple[str, int, dict[str, str]]:
    return "pong", 200, {"content-type": "text/plain"}


@app.get("/json")
def json_() -> object:
    return jsonify(message="Hello, World!")


@app.get("/block")
def block() -> str:
    time.sleep(0.05)
    return "blocked"
