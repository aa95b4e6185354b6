"""Request ids: the caller's X-Request-ID when well-formed, otherwise a fresh one."""

from __future__ import annotations

import itertools
import re
import secrets
import uuid
from collections.abc import Callable, Iterable

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode()

# A caller's id is echoed into our response and our logs, so it must be short and inert: no spaces,
# quotes or control characters that could forge a log line or split a header. Anything else is replaced.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")


def request_id_from(headers: Iterable[tuple[bytes, bytes]], new_id: Callable[[], str] | None = None) -> str:
    """The caller's X-Request-ID when it is well-formed, otherwise a fresh one from `new_id`."""
    for name, value in headers:
        if name == REQUEST_ID_KEY and _VALID_REQUEST_ID.fullmatch(value):
            return value.decode("ascii")
    return new_id() if new_id is not None else uuid.uuid4().hex


class RequestIds:
    """Fresh request ids: 32 hex digits, a random per-process prefix and a counter.

    Unique across processes and restarts (the prefix has 64 random bits) without a system call per
    request, which uuid4() makes to read the OS's randomness. Request ids are labels, not secrets.
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFF_FFFF_FFFF_FFFF:016x}"
