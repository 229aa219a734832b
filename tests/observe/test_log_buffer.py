"""BufferedLineWriter: batched log lines arrive complete, in order, on flush and at the
flusher's interval, from any number of threads."""

from __future__ import annotations

import io
import threading

import structlog

from gmp.observe.log import BufferedLineWriter, buffered_logger_factory


class Sink(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushed = threading.Event()

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)

    def flush(self) -> None:
        self.flushed.set()


def test_lines_wait_for_a_flush_then_arrive_in_order() -> None:
    sink = Sink()
    w = BufferedLineWriter(sink, interval=3600)  # the flusher will not run in this test
    for i in range(5):
        w.write(f"line {i}\n")
    assert sink.getvalue() == ""
    w.flush()
    assert sink.getvalue() == "".join(f"line {i}\n" for i in range(5))
    assert sink.writes == 1  # one write for the batch
    w.close()


def test_the_flusher_writes_without_being_asked() -> None:
    sink = Sink()
    w = BufferedLineWriter(sink, interval=0.01)
    w.write("hello\n")
    assert sink.flushed.wait(10)
    assert sink.getvalue() == "hello\n"
    w.close()


def test_past_max_pending_the_writer_flushes_inline() -> None:
    sink = Sink()
    w = BufferedLineWriter(sink, interval=3600, max_pending=3)
    for i in range(3):
        w.write(f"{i}\n")
    assert sink.getvalue() == "0\n1\n2\n"
    w.close()


def test_many_threads_lose_no_line() -> None:
    sink = Sink()
    w = BufferedLineWriter(sink, interval=0.001, max_pending=50)
    n_threads, per = 8, 500

    def writer(t: int) -> None:
        for i in range(per):
            w.write(f"{t}:{i}\n")

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    lines = sink.getvalue().splitlines()
    assert len(lines) == n_threads * per
    for t in range(n_threads):  # each thread's lines stay in its own order
        mine = [int(x.split(":")[1]) for x in lines if x.startswith(f"{t}:")]
        assert mine == list(range(per))


def test_structlog_through_the_buffer() -> None:
    sink = Sink()
    factory = buffered_logger_factory(sink, interval=3600)
    log = structlog.wrap_logger(
        factory(), processors=[structlog.processors.JSONRenderer(sort_keys=True)]
    )
    log.info("one", n=1)
    log.info("two", n=2)
    assert sink.getvalue() == ""
    factory._file._sink.close()  # flushes, and stops its flusher thread
    assert sink.getvalue() == '{"event": "one", "n": 1}\n{"event": "two", "n": 2}\n'


def test_json_renderer_with_and_without_orjson(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    import gmp.observe.log as logmod

    class Odd:
        def __repr__(self) -> str:
            return "<odd>"

    event = {"event": "request", "status": 200, "ms": 0.5, "obj": Odd()}
    fast = logmod.json_renderer()(None, "info", dict(event))
    assert json.loads(fast) == {"event": "request", "status": 200, "ms": 0.5, "obj": "<odd>"}
    monkeypatch.setattr(logmod, "_orjson_serializer", lambda: None)
    slow = logmod.json_renderer()(None, "info", dict(event))
    assert json.loads(slow) == json.loads(fast)


def test_a_closed_writer_stops_its_flusher_and_writes_later_lines_through() -> None:
    sink = Sink()
    w = BufferedLineWriter(sink, interval=3600)
    w.write("before\n")  # starts the flusher thread
    flusher = w._thread
    assert flusher is not None and flusher.is_alive()
    w.close()
    flusher.join(10)
    assert not flusher.is_alive()
    assert sink.getvalue() == "before\n"
    # A logger cached on the old configuration still writes here: at once, not never.
    w.write("after\n")
    w.write_line("and the access line\n")
    assert sink.getvalue() == "before\nafter\nand the access line\n"


def test_configure_logging_closes_the_sink_it_replaces() -> None:
    import gmp.http.cli as cli

    def flushers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "log-flusher"}

    saved = structlog.get_config()
    before = flushers()
    try:
        cli.configure_logging("json", "info", flush_interval=3600)
        first = cli._sink
        assert first is not None
        structlog.get_logger("t").info("one")  # starts the first sink's flusher
        started = flushers() - before
        assert len(started) == 1
        cli.configure_logging("json", "info", flush_interval=3600)
        assert cli._sink is not first and first._closed
        for t in started:
            t.join(10)
            assert not t.is_alive(), "the replaced sink's flusher still runs"
        cli.configure_logging("console", "info")  # unbatched: closes the second one
        assert cli._sink is None
    finally:
        structlog.configure(**saved)
    assert flushers() <= before
