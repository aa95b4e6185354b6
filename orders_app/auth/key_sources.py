"""Where the verification key comes from: one key loaded at start-up, or a cached JWKS."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import jwt

from orders_app.auth.failures import UNKNOWN_KEY, InvalidToken, KeysUnavailable
from orders_app.auth.jwks_client import fetch_jwks
from orders_app.auth.keys import VerificationKey

logger = logging.getLogger("orders_app.auth")


class KeySource(Protocol):
    # Whether the key depends on the token's `kid` header: only then is the header parsed up front.
    @property
    def selects_by_kid(self) -> bool: ...

    async def key_for(self, kid: str | None) -> VerificationKey: ...


@dataclass(frozen=True, slots=True)
class StaticKey:
    """One public key loaded at start-up (from a PEM public key or certificate)."""

    key: VerificationKey

    @property
    def selects_by_kid(self) -> bool:
        return False

    async def key_for(self, kid: str | None) -> VerificationKey:
        return self.key


class JwksKeys:
    """Keys from an identity provider's JWKS endpoint, cached and refreshed when an unknown `kid` arrives.

    At most one fetch per `refresh_cooldown` seconds: tokens with made-up kids must not turn into a
    flood of requests to the identity provider. Inside the cooldown an unknown kid is rejected at once,
    and if the last fetch failed the provider is still reported unavailable (503), not the token invalid.

    The cache is also refreshed once it is older than `max_age`, so a key the provider withdraws stops
    being accepted even when no unknown kid ever shows up. If that refresh fails, the cached keys keep
    serving (logged): an identity provider outage should not log every user out.

    A fetch ends within `timeout` seconds in total, whatever the endpoint does; while one is in
    flight, tokens whose kid is cached are verified from the cache without waiting for it.
    """

    @property
    def selects_by_kid(self) -> bool:
        return True

    def __init__(
        self,
        url: str,
        *,
        refresh_cooldown: float = 10.0,
        max_age: float = 300.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._keys: dict[str | None, VerificationKey] = {}
        self._lock = asyncio.Lock()
        self._clock = clock
        self._last_fetch = float("-inf")
        self._fetched_at = float("-inf")
        self._last_failure: str | None = None
        self._refresh_cooldown = refresh_cooldown
        self._max_age = max_age

    async def key_for(self, kid: str | None) -> VerificationKey:
        key = self._keys.get(kid)
        if key is not None and (not self._stale() or self._lock.locked()):
            # A refresh in flight (slow or failing) must not hold up tokens we can already verify.
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is None or self._stale():
                if self._clock() - self._last_fetch >= self._refresh_cooldown:
                    try:
                        await self._refresh()
                    except KeysUnavailable as error:
                        if key is None:
                            raise
                        logger.warning("%s; still using the keys fetched before", error)
                    else:
                        key = self._keys.get(kid)
                elif key is None and self._last_failure is not None:
                    raise KeysUnavailable(self._last_failure)
        if key is None:
            raise InvalidToken(UNKNOWN_KEY)
        return key

    def _stale(self) -> bool:
        return self._clock() - self._fetched_at >= self._max_age

    async def _refresh(self) -> None:
        self._last_fetch = self._clock()
        deadline = time.monotonic() + self._timeout
        try:
            # Blocking urllib, off the event loop; wait_for also bounds it should a read overrun.
            data = await asyncio.wait_for(
                asyncio.to_thread(fetch_jwks, self._url, deadline=deadline), timeout=self._timeout + 1
            )
            jwk_set = jwt.PyJWKSet.from_dict(data)
        except (jwt.PyJWTError, ValueError, OSError) as error:
            # OSError (TimeoutError included) for network trouble; ValueError for a body that is not
            # JSON or is too large; PyJWKSetError for a set without usable keys. The cache stays.
            self._last_failure = f"cannot fetch signing keys: {type(error).__name__}: {error}"
            raise KeysUnavailable(self._last_failure) from None
        self._last_failure = None
        self._fetched_at = self._last_fetch
        keys: dict[str | None, VerificationKey] = {}
        for jwk in jwk_set.keys:
            if jwk.public_key_use in (None, "sig") and isinstance(jwk.key, VerificationKey):
                keys[jwk.key_id] = jwk.key
        if len(keys) == 1:
            # A provider with a single key may issue tokens without `kid`.
            keys[None] = next(iter(keys.values()))
        logger.info("fetched %d signing key(s) from the JWKS endpoint", len(keys) - (None in keys))
        self._keys = keys
