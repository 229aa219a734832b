"""Typed HTTP errors: raise one in a handler or middleware and the client gets its status.

Gin makes a handler say ``c.AbortWithStatusJSON(404, ...)`` and ``return``; Python code
usually raises instead (Flask's ``abort``, Starlette's and FastAPI's ``HTTPException``).
gmp accepts both. An :class:`HTTPError` raised anywhere in a chain is caught by the
:meth:`gmp.http.Context.next` that called the raising handler, becomes the response
(``{"error": detail}`` as JSON, with the error's status and headers) and aborts the
rest of the chain, so outer middleware (the Logger) sees the status as if the handler had
written it. Any other exception is a bug and travels up to Recovery (a 500).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

__all__ = [
    "BadRequest",
    "ClientDisconnected",
    "Conflict",
    "Forbidden",
    "GatewayTimeout",
    "HTTPError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedMediaType",
]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


class HTTPError(Exception):
    """An error with an HTTP status: ``raise HTTPError(409, "name taken")``.

    ``detail`` is what the client reads (the JSON body's ``error`` field; the status's
    reason phrase when omitted), ``headers`` are added to the response (``Retry-After``,
    ``WWW-Authenticate``) and ``extra`` is merged into the JSON body (a field list for a
    validation error, say). Subclasses fix the status: ``raise NotFound("no such user")``.
    """

    status: int = 500

    def __init__(
        self,
        status: int | str | None = None,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(status, str) and detail is None:
            # NotFound("no such user"): a subclass with its detail as the only argument.
            status, detail = None, status
        if status is not None:
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
                raise ValueError(
                    f"an HTTPError status must be an int from 400 to 599, got {status!r}"
                )
            self.status = status
        self.detail = detail if detail is not None else _phrase(self.status)
        if headers is None:
            self.headers: list[tuple[str, str]] = []
        elif isinstance(headers, Mapping):
            self.headers = [(str(k), str(v)) for k, v in headers.items()]
        else:
            self.headers = [(str(k), str(v)) for k, v in headers]
        self.extra: dict[str, Any] = dict(extra) if extra else {}
        super().__init__(self.status, self.detail)

    def body(self) -> dict[str, Any]:
        """The JSON body of the response: ``{"error": detail, **extra}``."""
        return {"error": self.detail, **self.extra}

    def __str__(self) -> str:
        return f"{self.status} {self.detail}"


class BadRequest(HTTPError):
    """400: the request is malformed (a bad query parameter, a body that does not bind)."""

    status = 400


class Unauthorized(HTTPError):
    """401: credentials missing or wrong; set ``WWW-Authenticate`` in ``headers``."""

    status = 401


class Forbidden(HTTPError):
    """403: authenticated but not allowed."""

    status = 403


class NotFound(HTTPError):
    """404: no such resource."""

    status = 404


class MethodNotAllowed(HTTPError):
    """405: the resource exists but not for this method; set ``Allow`` in ``headers``."""

    status = 405


class Conflict(HTTPError):
    """409: the request conflicts with the resource's state."""

    status = 409


class PayloadTooLarge(HTTPError):
    """413: the body is larger than this route accepts."""

    status = 413


class UnsupportedMediaType(HTTPError):
    """415: the body's content type is not one this route reads."""

    status = 415


class UnprocessableEntity(HTTPError):
    """422: well-formed but semantically wrong."""

    status = 422


class TooManyRequests(HTTPError):
    """429: rate limited; ``Retry-After`` tells when to come back."""

    status = 429


class ServiceUnavailable(HTTPError):
    """503: temporarily unable (draining, a dependency's circuit is open)."""

    status = 503


class GatewayTimeout(HTTPError):
    """504: the handler did not finish within its deadline."""

    status = 504


class ClientDisconnected(ConnectionError):
    """The client connection is gone while its response was still being produced.

    :class:`~gmp.http.trio_server.TrioServer` raises it in a handler's G that writes a
    streaming body nobody will read any more (the client went away, or the server gave up
    on the connection). :class:`~gmp.http.Server` writes a streaming body from the
    connection's own G, so there it closes the body's iterator instead (a generator's
    ``finally`` runs). Middleware that counts it (Metrics, Recovery, Breaker) treats it
    as the client's doing, not a server error."""
