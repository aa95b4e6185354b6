"""The single place where errors become HTTP responses. Every error body is JSON with `detail`."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    SerializationException,
    ValidationException,
)
from litestar.types import ExceptionHandlersMap

from orders_app.api.conditions import etag
from orders_app.api.health import NotReady
from orders_app.auth.failures import InvalidToken, KeysUnavailable
from orders_app.db.errors import DatabaseUnavailable
from orders_app.domain.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidOrder,
    InvalidPrecondition,
    OrderNotFound,
    TransitionNotAllowed,
    VersionMismatch,
)
from orders_app.edge.aborts import ClientDisconnected
from orders_app.edge.scope import CLIENT_CLOSED_STATUS
from orders_app.observability.sink import MetricsSink
from orders_app.service.cursor import InvalidCursor

logger = logging.getLogger("orders_app.errors")

DATABASE_UNAVAILABLE = "The database is unavailable; please retry shortly."


def _json(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response({"detail": detail}, status_code=status, media_type=MediaType.JSON, headers=headers)


def _validation_failed(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = exc.extra if isinstance(exc.extra, list) and exc.extra else [{"message": exc.detail}]
    detail = []
    for error in errors:
        if isinstance(error, dict):
            entry = {key: str(value) for key, value in error.items()}
            if entry.get("key") == "data" and entry.get("message") == "'data'":
                entry = {"message": "a JSON request body is required", "source": "body"}
            detail.append(entry)
        else:
            detail.append({"message": str(error)})
    return _json(422, detail)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc.__cause__, SerializationException):
        # Malformed JSON is a validation failure of the body, answered like the others.
        return _json(422, [{"message": exc.detail, "source": "body"}])
    if exc.status_code >= 500:
        logger.error("server error on %s %s: %s", request.method, request.url.path, exc.detail)
    return _json(exc.status_code, exc.detail, dict(exc.headers or {}))


def _not_found(_: Request[Any, Any, Any], exc: OrderNotFound) -> Response[Any]:
    return _json(404, str(exc))


def _conflict(_: Request[Any, Any, Any], exc: TransitionNotAllowed) -> Response[Any]:
    return _json(409, str(exc))


def _invalid_order(_: Request[Any, Any, Any], exc: InvalidOrder) -> Response[Any]:
    return _json(422, [{"message": str(exc), "source": "body"}])


def _version_mismatch(_: Request[Any, Any, Any], exc: VersionMismatch) -> Response[Any]:
    # The current ETag, so a client can decide without another GET whether its change still applies.
    return _json(412, str(exc), {"ETag": etag(exc.version)})


def _invalid_precondition(_: Request[Any, Any, Any], exc: InvalidPrecondition) -> Response[Any]:
    return _json(400, str(exc))


def _invalid_idempotency_key(_: Request[Any, Any, Any], exc: InvalidIdempotencyKey) -> Response[Any]:
    return _json(400, str(exc))


def _idempotency_key_reused(_: Request[Any, Any, Any], exc: IdempotencyKeyReused) -> Response[Any]:
    return _json(422, str(exc))


def _idempotency_key_in_flight(_: Request[Any, Any, Any], exc: IdempotencyKeyInFlight) -> Response[Any]:
    return _json(409, str(exc), {"Retry-After": "1"})


def _invalid_cursor(_: Request[Any, Any, Any], exc: InvalidCursor) -> Response[Any]:
    return _json(422, [{"message": str(exc), "key": "cursor", "source": "query"}])


# RFC 6750 section 3: what error and error_description may hold inside their quotes.
_CHALLENGE_SAFE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def _unauthorized(_: Request[Any, Any, Any], exc: InvalidToken) -> Response[Any]:
    # Descriptions come from a fixed set (auth.failures.DESCRIPTIONS); the check keeps a future slip,
    # say a quote or a newline, from ever splitting or forging the header.
    error = exc.error if _CHALLENGE_SAFE.fullmatch(exc.error) else "invalid_token"
    challenge = f'Bearer realm="orders", error="{error}"'
    if _CHALLENGE_SAFE.fullmatch(exc.description):
        challenge += f', error_description="{exc.description}"'
    return _json(401, exc.description, {"WWW-Authenticate": challenge})


def _keys_unavailable(_: Request[Any, Any, Any], exc: KeysUnavailable) -> Response[Any]:
    logger.error("identity provider keys unavailable: %s", exc)
    return _json(503, "Token signing keys are unavailable; please retry shortly.", {"Retry-After": "5"})


def _database_unavailable(request: Request[Any, Any, Any], exc: DatabaseUnavailable) -> Response[Any]:
    metrics: MetricsSink = request.app.state.metrics
    metrics.database_unavailable()
    cause = exc.__cause__
    logger.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.url.path,
        type(cause).__name__ if cause else exc,
    )
    return _json(503, DATABASE_UNAVAILABLE, {"Retry-After": "2"})


def _client_closed(_: Request[Any, Any, Any], _exc: ClientDisconnected) -> Response[Any]:
    # Nobody receives this; the status is what the access log records (no ERROR line: not our fault).
    return _json(CLIENT_CLOSED_STATUS, "client closed the connection")


def _not_ready(_: Request[Any, Any, Any], exc: NotReady) -> Response[Any]:
    # Not logged per request: the readiness check logs each change of state once.
    return _json(503, str(exc), {"Retry-After": "2"})


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Logged with its traceback for operators; the client only learns that it was our fault.
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(500, "Internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: _validation_failed,
    NotAuthorizedException: _http_error,
    HTTPException: _http_error,
    OrderNotFound: _not_found,
    TransitionNotAllowed: _conflict,
    InvalidOrder: _invalid_order,
    InvalidCursor: _invalid_cursor,
    VersionMismatch: _version_mismatch,
    InvalidPrecondition: _invalid_precondition,
    InvalidIdempotencyKey: _invalid_idempotency_key,
    IdempotencyKeyReused: _idempotency_key_reused,
    IdempotencyKeyInFlight: _idempotency_key_in_flight,
    InvalidToken: _unauthorized,
    KeysUnavailable: _keys_unavailable,
    DatabaseUnavailable: _database_unavailable,
    ClientDisconnected: _client_closed,
    NotReady: _not_ready,
    Exception: _unexpected,
}
