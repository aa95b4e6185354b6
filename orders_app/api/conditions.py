"""Conditional requests on one order (RFC 9110, section 13): its ETag, If-Match and If-None-Match.

The ETag is the order's version as a strong entity tag (`"3"`). If-Match compares strongly (a weak tag
never matches), If-None-Match weakly; `*` matches any existing order. A header that is neither `*` nor
a list of entity tags is refused (400) rather than ignored: a client that meant a condition must not
get an unconditional change.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request

from orders_app.domain.errors import InvalidPrecondition
from orders_app.domain.orders import ExpectedVersion

IF_MATCH = b"if-match"
IF_NONE_MATCH = b"if-none-match"
# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text (a comma included), each
# followed by a comma or the end; empty list elements are skipped (RFC 9110, 5.6.1).
_ENTITY_TAG = re.compile(rb'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*(?:,|\Z)')
_SEPARATORS = re.compile(rb"[ \t,]*")
# The opaque tags this API issues; any other tag is valid syntax that matches no version.
_VERSION = re.compile(rb"[1-9][0-9]{0,17}")
_RULE = 'must be * or a comma-separated list of entity tags such as "3" (the ETag of the order)'


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(request: Request[Any, Any, Any]) -> ExpectedVersion | None:
    """If-Match as the versions a change may start from; None without the header."""
    header = _header(request, IF_MATCH)
    if header is None:
        return None
    if header.strip(b" \t") == b"*":
        return ExpectedVersion(any_version=True)
    strong = {opaque for weak, opaque in _entity_tags(header, "If-Match") if not weak}
    return ExpectedVersion(frozenset(int(tag) for tag in strong if _VERSION.fullmatch(tag)))


def none_match(request: Request[Any, Any, Any], version: int) -> bool:
    """True when If-None-Match names this version (weakly) or is `*`: the client's copy is current."""
    header = _header(request, IF_NONE_MATCH)
    if header is None:
        return False
    if header.strip(b" \t") == b"*":
        return True
    current = str(version).encode()
    return any(opaque == current for _, opaque in _entity_tags(header, "If-None-Match"))


def _header(request: Request[Any, Any, Any], name: bytes) -> bytes | None:
    """The field's value, its lines joined as one list (RFC 9110, 5.3); None without it."""
    values = [value for field, value in request.scope["headers"] if field == name]
    return b",".join(values) if values else None


def _entity_tags(header: bytes, name: str) -> list[tuple[bool, bytes]]:
    """(weak, opaque-tag) for each entity tag of the list; InvalidPrecondition for anything else."""
    tags = []
    position = _skip_separators(header, 0)
    while position < len(header):
        tag = _ENTITY_TAG.match(header, position)
        if tag is None:
            raise InvalidPrecondition(f"{name} {_RULE}")
        tags.append((tag.group(1) is not None, tag.group(2)))
        position = _skip_separators(header, tag.end())
    if not tags:
        raise InvalidPrecondition(f"{name} {_RULE}")
    return tags


def _skip_separators(header: bytes, position: int) -> int:
    separators = _SEPARATORS.match(header, position)
    return position if separators is None else separators.end()
