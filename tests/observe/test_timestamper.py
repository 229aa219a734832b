"""FastTimeStamper's stamps: ISO 8601 UTC with milliseconds, the same instant as the
clock (within the millisecond it was made in), and one string per millisecond."""

from __future__ import annotations

import datetime as dt
import re
import time

from gmp.observe.log import FastTimeStamper

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


def test_stamps_are_iso_utc_milliseconds_of_now() -> None:
    ts = FastTimeStamper()
    for _ in range(2000):
        before = int(time.time() * 1000)
        stamp = ts(None, "info", {})["timestamp"]
        after = int(time.time() * 1000)
        assert STAMP.match(stamp), stamp
        when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        ms = int(when.timestamp() * 1000 + 0.5)
        assert before <= ms <= after, (before, stamp, after)


def test_a_custom_key() -> None:
    assert "at" in FastTimeStamper("at")(None, "info", {})
