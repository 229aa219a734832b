"""Argument checks shared by the resilience building blocks.

Each check names the argument it rejects, so a misconfigured limiter or breaker fails at
construction with a message that says which knob is wrong, not later with a ZeroDivision.
``bool`` is refused where a number is expected (``True`` is an ``int`` in Python, and a
rate of ``True`` is always a mistake).
"""

from __future__ import annotations

import math
from typing import Any


def number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN")
    return float(value)


def positive(name: str, value: Any) -> float:
    """A finite number > 0 (a rate, a window, a cooldown)."""
    v = number(name, value)
    if not 0 < v < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def non_negative(name: str, value: Any) -> float:
    """A finite number >= 0 (a timeout, a delay)."""
    v = number(name, value)
    if not 0 <= v < math.inf:
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return v


def integer(name: str, value: Any, *, at_least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < at_least:
        raise ValueError(f"{name} must be >= {at_least}, got {value!r}")
    return value
