"""The cache of recently verified tokens, so that a client's next requests skip the signature check."""

from __future__ import annotations

from dataclasses import dataclass

from orders_app.auth.failures import EXPIRED, InvalidToken


@dataclass(frozen=True, slots=True)
class _Verified:
    subject: str
    # Wall-clock second from which the token is expired: its `exp` plus the leeway.
    expires_at: float
    verified_at: float


class VerifiedTokens:
    """Tokens that passed full verification recently, so that a client's next requests skip it.

    A client sends the same bearer token on every request until it expires, and checking it (base64,
    JSON, the RSA signature, the claims) is the largest piece of CPU in a small request. Keyed by the
    whole token string, signature included, so a hit is the very token that was verified: nothing a
    client can alter gets through. Only the time-dependent check can change its answer, and it is
    repeated on every hit. Entries are re-verified after `max_age` seconds (a key withdrawn from the
    JWKS stops being honoured within that time); rejected tokens are never stored; the oldest entry
    makes room for a new one; tokens longer than `max_token_length` are never stored (memory bound).
    """

    def __init__(
        self,
        *,
        capacity: int = 2048,
        max_age: float = 60.0,
        max_token_length: int = 4096,
    ) -> None:
        self._entries: dict[str, _Verified] = {}
        self._capacity = capacity
        self._max_age = max_age
        self._max_token_length = max_token_length

    def __len__(self) -> int:
        return len(self._entries)

    def subject(self, token: str, now: float) -> str | None:
        """The subject of a stored token still good at `now`, or None: verify it in full."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if now >= entry.expires_at:
            del self._entries[token]
            raise InvalidToken(EXPIRED)
        if not 0 <= now - entry.verified_at < self._max_age:
            del self._entries[token]
            return None
        return entry.subject

    def add(self, token: str, subject: str, *, expires_at: float, now: float) -> None:
        if len(token) > self._max_token_length or self._capacity <= 0:
            return
        if token not in self._entries and len(self._entries) >= self._capacity:
            # Dicts keep insertion order: the first key is the oldest entry.
            del self._entries[next(iter(self._entries))]
        self._entries[token] = _Verified(subject, expires_at, now)
