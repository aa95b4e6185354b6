"""A verified token is remembered briefly, so a client's next requests skip the signature check.

The remembered answer must never be more generous than a full verification: the token still expires
on time, a token that differs in any byte is verified from scratch, a rejected token is never
remembered, and an entry is verified again after `max_age` (a withdrawn key stops working).
"""

from __future__ import annotations

import functools
import time

import pytest

from orders_app.auth.dev_tokens import mint_token
from orders_app.auth.failures import BAD_SIGNATURE, EXPIRED, InvalidToken
from orders_app.auth.keys import KeyPair, VerificationKey, load_private_key, load_public_key
from orders_app.auth.verified_cache import VerifiedTokens
from orders_app.auth.verifier import TokenVerifier

AUDIENCE = "orders-api"
LEEWAY = 30.0

private_key = functools.cache(load_private_key)


class CountingKey:
    """A static key source that counts how often a verification asked for the key."""

    def __init__(self, key: VerificationKey) -> None:
        self.key = key
        self.lookups = 0

    @property
    def selects_by_kid(self) -> bool:
        return False

    async def key_for(self, kid: str | None) -> VerificationKey:
        self.lookups += 1
        return self.key


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def token(keys: KeyPair, subject: str = "alice", ttl_seconds: int = 600) -> str:
    return mint_token(
        private_key(keys.private_key), subject=subject, audience=AUDIENCE, ttl_seconds=ttl_seconds
    )


def verifier(keys: KeyPair, clock: Clock, **cache_options: int | float) -> tuple[TokenVerifier, CountingKey]:
    source = CountingKey(load_public_key(keys.public_key))
    return (
        TokenVerifier(
            source,
            audience=AUDIENCE,
            leeway=LEEWAY,
            verified=VerifiedTokens(**cache_options),  # type: ignore[arg-type]
            clock=clock,
        ),
        source,
    )


async def test_the_same_token_is_verified_once(keys: KeyPair) -> None:
    check, source = verifier(keys, Clock())
    bearer = token(keys)

    subjects = [await check.subject(bearer) for _ in range(5)]

    assert subjects == ["alice"] * 5
    assert source.lookups == 1


async def test_a_remembered_token_still_expires_exactly_when_a_verified_one_would(keys: KeyPair) -> None:
    clock = Clock()
    check, _ = verifier(keys, clock)
    bearer = token(keys, ttl_seconds=60)
    assert await check.subject(bearer) == "alice"
    expires = int(clock.now) + 60  # mint_token's exp, give or take the second boundary

    clock.now = expires + LEEWAY - 2
    assert await check.subject(bearer) == "alice"
    clock.now = expires + LEEWAY + 1
    with pytest.raises(InvalidToken) as rejected:
        await check.subject(bearer)
    assert rejected.value.description == EXPIRED


async def test_a_token_differing_in_its_signature_is_verified_and_rejected(keys: KeyPair) -> None:
    check, source = verifier(keys, Clock())
    bearer = token(keys)
    assert await check.subject(bearer) == "alice"
    header, payload, signature = bearer.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"

    with pytest.raises(InvalidToken) as rejected:
        await check.subject(forged)

    assert rejected.value.description == BAD_SIGNATURE
    assert source.lookups == 2


async def test_a_rejected_token_is_never_remembered(keys: KeyPair, other_keys: KeyPair) -> None:
    check, source = verifier(keys, Clock())
    stranger = token(other_keys)

    for _ in range(3):
        with pytest.raises(InvalidToken):
            await check.subject(stranger)

    assert source.lookups == 3


async def test_an_entry_is_verified_again_after_max_age(keys: KeyPair, other_keys: KeyPair) -> None:
    clock = Clock()
    check, source = verifier(keys, clock, max_age=60)
    bearer = token(keys)
    assert await check.subject(bearer) == "alice"

    # The signing key is withdrawn: within max_age the remembered answer stands, after it, it does not.
    source.key = load_public_key(other_keys.public_key)
    clock.now += 59
    assert await check.subject(bearer) == "alice"
    clock.now += 2
    with pytest.raises(InvalidToken) as rejected:
        await check.subject(bearer)
    assert rejected.value.description == BAD_SIGNATURE


async def test_the_oldest_entry_makes_room_and_the_cache_stays_bounded(keys: KeyPair) -> None:
    cache = VerifiedTokens(capacity=3)
    check = TokenVerifier(CountingKey(load_public_key(keys.public_key)), audience=AUDIENCE, verified=cache)
    bearers = [token(keys, subject=f"user-{i}") for i in range(5)]

    for bearer in bearers:
        await check.subject(bearer)

    assert len(cache) == 3
    assert cache.subject(bearers[0], time.time()) is None
    assert cache.subject(bearers[-1], time.time()) == "user-4"


async def test_very_long_tokens_are_not_stored(keys: KeyPair) -> None:
    cache = VerifiedTokens(max_token_length=100)
    check = TokenVerifier(CountingKey(load_public_key(keys.public_key)), audience=AUDIENCE, verified=cache)

    assert await check.subject(token(keys)) == "alice"

    assert len(cache) == 0
