"""W3C Trace Context (https://www.w3.org/TR/trace-context/): the trace id a request belongs to.

A gateway or a caller that traces sends `traceparent`; putting its trace id into our access log line
joins our logs to that trace. A request without a valid one starts a new trace id, so every line
still has one to search by.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

TRACEPARENT_HEADER = b"traceparent"

# Version 00: version-traceid-parentid-flags, lower-case hex only, nothing after the flags.
_TRACEPARENT = re.compile(rb"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = b"0" * 32
_ZERO_PARENT = b"0" * 16


def incoming_trace_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The trace id of a valid `traceparent` header; None when there is none, several, or it is invalid."""
    found: bytes | None = None
    for name, value in headers:
        if name == TRACEPARENT_HEADER:
            if found is not None:
                # The specification treats repeated traceparent headers as invalid.
                return None
            found = value
    if found is None:
        return None
    match = _TRACEPARENT.fullmatch(found.strip(b" \t"))
    if match is None or match.group(1) == _ZERO_TRACE or match.group(2) == _ZERO_PARENT:
        return None
    return match.group(1).decode("ascii")


def new_trace_id() -> str:
    """32 random hex digits, never all zeros (the specification's invalid value).

    The random module rather than secrets: a trace id is a label, not a secret, and this needs no
    system call per request.
    """
    return f"{random.getrandbits(128) or 1:032x}"


def trace_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    return incoming_trace_id(headers) or new_trace_id()
