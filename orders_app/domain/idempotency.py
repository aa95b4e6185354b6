"""What an idempotency key holds: the fingerprint of the request it was first used for, and the response."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response as first sent: replayed byte for byte to every repeat of its request."""

    status: int
    body: bytes
    # Headers that describe the stored representation (for example its ETag); framing headers excluded.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """A key held by an earlier request: its fingerprint, and its response (None while it still runs)."""

    fingerprint: str
    response: StoredResponse | None
