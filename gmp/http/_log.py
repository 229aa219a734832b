"""Loggers for gmp.http that are built at first use, not at import.

``gmp.observe.log.get_logger`` binds at import time, which makes structlog build the
logger with whatever configuration exists then; ``gmp serve`` configures structlog after
importing the server, so the server's loggers are resolved on their first call instead.
"""

from __future__ import annotations

from typing import Any

from gmp.observe.log import get_logger


class _LazyLogger:
    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        logger = self._logger
        if logger is None:
            logger = self._logger = get_logger(self._name)
        return getattr(logger, attr)


def lazy_logger(name: str) -> Any:
    """A structlog logger bound with ``logger=name``, built at its first use."""
    return _LazyLogger(name)
