"""Loggers for gmp's own modules.

gmp never configures structlog globally (that is the application's call); it only asks
for named loggers, so an application's processors and renderers apply to gmp's lines.
"""

from __future__ import annotations

from typing import Any

import structlog


def get_logger(name: str) -> Any:
    """A structlog logger bound with ``logger=name`` (e.g. ``gmp.runtime``)."""
    return structlog.get_logger(name).bind(logger=name)
