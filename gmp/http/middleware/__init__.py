"""Built-in middleware: request ids, the access log, and recovery from handler errors.

Each works in plain and ``async def`` chains alike (they subclass
:class:`gmp.http.Middleware`). ``Engine.default()`` installs ``RequestID()``,
``Logger()`` and ``Recovery()`` in that order: the Logger sits outside Recovery, so it
logs the 500 that Recovery made of an exception (Gin's ``Default`` has the same order).
"""

from gmp.http.middleware.logger import Logger
from gmp.http.middleware.recovery import Recovery
from gmp.http.middleware.requestid import RequestID

__all__ = ["Logger", "Recovery", "RequestID"]
