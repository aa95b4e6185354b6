"""The Idempotency-Key request header: parsed here, then handed to the service's idempotent write.

Accepted forms, the same key either way: the draft's Structured Field string (`"8e03…"`, with `\\"`
and `\\\\` escapes) and the common bare form (`8e03…`). The key is 1-255 printable ASCII characters.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import MediaType, Request, Response

from orders_app.api.conditions import etag
from orders_app.api.schemas import Order
from orders_app.domain.errors import InvalidIdempotencyKey
from orders_app.domain.idempotency import StoredResponse
from orders_app.domain.limits import IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_KEY_MIN_LENGTH
from orders_app.domain.orders import Order as DomainOrder
from orders_app.service.idempotency import KeyedRequest, KeyPolicy, write_order_once
from orders_app.service.orders import OrderWrite
from orders_app.service.ports import OrderEvents, UnitOfWork

HEADER = b"idempotency-key"
# Marks a response that is the stored answer to an earlier request with the same key.
REPLAYED_HEADER = "Idempotent-Replayed"
# RFC 8941 sf-string: printable ASCII between quotes, where `"` and `\` appear only escaped; no parameters.
_SF_STRING = re.compile(rb'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\\"])*)"')
_ESCAPE = re.compile(rb"\\(.)")
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")
_RULE = (
    f"Idempotency-Key must be one key of {IDEMPOTENCY_KEY_MIN_LENGTH}-{IDEMPOTENCY_KEY_MAX_LENGTH} "
    'printable ASCII characters, bare or as a quoted string ("...")'
)


def idempotency_key(request: Request[Any, Any, Any]) -> str | None:
    """The request's key, None without the header; InvalidIdempotencyKey for anything but one valid key.

    Read from the raw ASGI headers: a request without the header pays one scan of its header list.
    """
    values = [value for name, value in request.scope["headers"] if name == HEADER]
    if not values:
        return None
    if len(values) > 1:
        raise InvalidIdempotencyKey(f"{_RULE}; the request has {len(values)} Idempotency-Key headers")
    return parse_key(values[0])


def parse_key(raw: bytes) -> str:
    value = raw.strip(b" \t")
    if value.startswith(b'"'):
        quoted = _SF_STRING.fullmatch(value)
        if quoted is None:
            raise InvalidIdempotencyKey(f"{_RULE}; the quoted form is not a valid string")
        value = _ESCAPE.sub(rb"\1", quoted.group(1))
    elif not _PRINTABLE.fullmatch(value):
        raise InvalidIdempotencyKey(f"{_RULE}; it holds other characters")
    if not IDEMPOTENCY_KEY_MIN_LENGTH <= len(value) <= IDEMPOTENCY_KEY_MAX_LENGTH:
        raise InvalidIdempotencyKey(f"{_RULE}; it has {len(value)}")
    return value.decode("ascii")


async def write_once(
    request: Request[str, Any, Any], uow: UnitOfWork, key: str, write: OrderWrite, events: OrderEvents
) -> Response[bytes]:
    """Answer a write that carries `key`: run it once for the token's subject, or replay its response."""
    keyed = KeyedRequest.of(key, request.method, request.scope["path"], await request.body())
    status = request.route_handler.status_code

    def render(order: DomainOrder) -> StoredResponse:
        return StoredResponse(
            status, msgspec.json.encode(Order.from_domain(order)), (("ETag", etag(order.version)),)
        )

    policy: KeyPolicy = request.app.state.idempotency
    answer = await write_order_once(uow, request.user, keyed, write, render, policy, events)
    headers = dict(answer.response.headers)
    if answer.replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(
        answer.response.body, status_code=answer.response.status, media_type=MediaType.JSON, headers=headers
    )
