"""A small real Flask application, served through gmp's WSGI adapter by the tests."""

from __future__ import annotations

import threading
import time

from flask import Flask, Response, jsonify, request, stream_with_context

app = Flask(__name__)
release = threading.Event()


@app.get("/ping")
def ping() -> str:
    return "pong"


@app.route("/json", methods=["GET", "POST"])
def json_view() -> object:
    if request.method == "POST":
        return jsonify(got=request.get_json(), args=request.args.to_dict())
    return jsonify(message="hello", path=request.path, script=request.script_root)


@app.post("/form")
def form() -> str:
    return f"{request.form['a']}-{request.form['b']}"


@app.get("/headers")
def headers() -> object:
    return jsonify(agent=request.headers.get("User-Agent"), custom=request.headers.get("X-Custom"))


@app.get("/stream")
def stream() -> Response:
    def gen():  # type: ignore[no-untyped-def]
        for i in range(5):
            yield f"part{i}\n"

    return Response(stream_with_context(gen()), mimetype="text/plain")


@app.get("/block")
def block() -> str:
    release.wait(10)  # a blocking view: costs its thread, not the server
    return "unblocked"


@app.get("/sleep")
def sleep() -> str:
    time.sleep(0.02)
    return "slept"


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("view failed")


@app.get("/cookie")
def cookie() -> Response:
    resp = Response("c")
    resp.set_cookie("a", "1")
    resp.set_cookie("b", "2")
    return resp
