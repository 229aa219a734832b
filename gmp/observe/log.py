"""Loggers for gmp's own modules.

gmp never configures structlog globally (that is the application's call); it only asks
for named loggers, so an application's processors and renderers apply to gmp's lines.
A logger is built at its first use, not at import: binding at import would freeze
structlog's configuration of that moment, and ``gmp serve`` (like most applications)
configures structlog after importing gmp. Once built it is cached, so a hot path such as
the access log pays for the binding once.
"""

from __future__ import annotations

from typing import Any

import structlog


class _LazyLogger:
    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        logger = self._logger
        if logger is None:
            logger = self._logger = structlog.get_logger(self._name).bind(logger=self._name)
        return getattr(logger, attr)


def get_logger(name: str) -> Any:
    """A structlog logger bound with ``logger=name`` (e.g. ``gmp.runtime``), built lazily."""
    return _LazyLogger(name)
