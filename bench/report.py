"""A small table formatter: medians, spreads (min-max), references and ratios."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.runner import Result

NA = "-"


def fmt(value: float | None, kind: str) -> str:
    """Format one figure; kind is "rate", "us", "ms", "bytes", "x" or "int"."""
    if value is None or math.isnan(value):
        return NA
    if kind == "rate":
        if value >= 1e6:
            return f"{value / 1e6:.2f}M"
        return f"{value / 1e3:.1f}k"
    if kind == "us":
        return f"{value:.2f}"
    if kind == "ms":
        return f"{value:.1f}"
    if kind == "bytes":
        return f"{value:,.0f}"
    if kind == "x":
        return f"{value:.2f}x"
    if kind == "int":
        return f"{value:,.0f}"
    raise ValueError(f"unknown format kind {kind!r}")


def median(result: Result | None, metric: str, kind: str) -> str:
    if result is None:
        return NA
    return fmt(result.median(metric), kind)


def spread(result: Result | None, metric: str, kind: str) -> str:
    """The range of the repetitions, e.g. "[110.2k-115.0k]"."""
    span = result.spread(metric) if result is not None else None
    if span is None:
        return NA
    return f"[{fmt(span[0], kind)}-{fmt(span[1], kind)}]"


def ratio(
    mine: Result | None, theirs: Result | None, metric: str, theirs_metric: str | None = None
) -> float | None:
    """gmp's median divided by the anchor's median (same metric unless told otherwise)."""
    if mine is None or theirs is None:
        return None
    a, b = mine.median(metric), theirs.median(theirs_metric or metric)
    if a is None or b is None or b == 0:
        return None
    return a / b


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Left-align the first column, right-align the rest."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = (str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def title(text: str) -> None:
    print()
    print(f"== {text} ==")


@dataclass(frozen=True)
class Target:
    """A goal stated on a figure or a ratio: "<=" or ">=" a threshold."""

    what: str
    op: str
    threshold: float
    kind: str

    def verdict(self, value: float | None) -> str:
        if value is None:
            return f"{self.what}: n/a"
        ok = value <= self.threshold if self.op == "<=" else value >= self.threshold
        shown, bound = fmt(value, self.kind), fmt(self.threshold, self.kind)
        return f"{self.what}: {shown} ({self.op} {bound}: {'met' if ok else 'NOT met'})"


def print_verdicts(lines: Sequence[str]) -> None:
    for text in lines:
        print(f"  {text}")


def errors(results: Sequence[Result]) -> None:
    """Say which cases failed, and why, under the table they belong to."""
    for r in results:
        if r.error:
            print(f"  ! {r.case.label}: {r.error}")
