"""JWT verification (PyJWT) against a fixed list of asymmetric algorithms, and dev-token minting."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from orders_app.auth.keys import VerificationKey
from orders_app.domain.limits import OWNER_MAX_LENGTH

logger = logging.getLogger("orders_app.auth")

# Fixed in code and never read from the token: this is what stops `alg: none` and the classic
# "HS256 signed with the public key as the secret" forgery.
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384"}
ALLOWED_ALGORITHMS = (*RSA_ALGORITHMS, *EC_ALGORITHMS.values())
REQUIRED_CLAIMS = ("exp", "iat", "sub", "aud")
# The subject becomes the orders' owner, so it must fit that column.
SUBJECT_MAX_LENGTH = OWNER_MAX_LENGTH
# C0 and C1 controls (NUL included) and lone surrogates: PostgreSQL refuses NUL in text, and no
# driver can encode a surrogate, so such a subject could never be stored or compared (was a 500).
_UNUSABLE_SUBJECT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def algorithms_for(key: VerificationKey) -> list[str]:
    """The accepted algorithms that fit this key.

    Narrowing by key type turns "ES256 header, RSA key" into a plain rejection; left to PyJWT it
    surfaces as a TypeError (a 500) instead of an invalid token.
    """
    if isinstance(key, rsa.RSAPublicKey):
        return list(RSA_ALGORITHMS)
    algorithm = EC_ALGORITHMS.get(key.curve.name) if isinstance(key, ec.EllipticCurvePublicKey) else None
    return [algorithm] if algorithm else []


class InvalidToken(Exception):
    """The bearer token is missing or unacceptable. The message never contains the token."""

    def __init__(self, description: str, *, error: str = "invalid_token") -> None:
        self.description = description
        self.error = error
        super().__init__(description)


class KeysUnavailable(Exception):
    """The identity provider's keys could not be fetched (the fault is ours, not the client's)."""


# A JWKS holds a handful of public keys (a few KiB); more is a misconfigured or hostile endpoint.
JWKS_MAX_BYTES = 512 * 1024


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead the fetch off https or off the configured host: it is a failed fetch.
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def fetch_jwks(url: str, *, deadline: float, max_bytes: int = JWKS_MAX_BYTES) -> dict[str, Any]:
    """GET a JWKS document, giving up once `deadline` (time.monotonic()) passes or it exceeds `max_bytes`.

    urllib's timeout bounds each socket operation, not the whole exchange: an endpoint that drips a
    byte per second would hold a fetch forever. The deadline is checked between reads and caps each
    read's own timeout. Blocking: run it in a thread. OSError or ValueError on any failure.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no time left to fetch the JWKS")
    # The scheme and host are checked at start-up (app.build_authenticator).
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with _NO_REDIRECTS.open(request, timeout=remaining) as response:
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise ValueError(f"the JWKS is {length} bytes, over the {max_bytes}-byte limit")
        body = b""
        while chunk := response.read1(65536):
            body += chunk
            if len(body) > max_bytes:
                raise ValueError(f"the JWKS is over the {max_bytes}-byte limit")
            if time.monotonic() > deadline:
                raise TimeoutError("the JWKS endpoint did not answer in time")
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("the JWKS is not a JSON object")
    return data


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


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        audience: str,
        issuer: str | None = None,
        leeway: float = 30.0,
        verified: VerifiedTokens | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway
        self._jwt = jwt.PyJWT(options={"require": list(REQUIRED_CLAIMS)})
        self._verified = verified if verified is not None else VerifiedTokens()
        self._clock = clock

    async def subject(self, token: str) -> str:
        """The verified token's `sub`, or InvalidToken saying what is wrong with it."""
        now = self._clock()
        cached = self._verified.subject(token, now)
        if cached is not None:
            return cached
        subject, expires = await self._verify(token)
        self._verified.add(token, subject, expires_at=expires + self._leeway, now=now)
        return subject

    async def _verify(self, token: str) -> tuple[str, float]:
        """Full verification: the token's subject and `exp`, or InvalidToken."""
        kid = None
        if self._keys.selects_by_kid:
            # Parsed only when the key depends on it, as it is costly (docs/bench.md, "Figures behind
            # code comments"); decode() below validates the header (kid type, crit) either way.
            try:
                header = jwt.get_unverified_header(token)
            except jwt.InvalidTokenError:
                raise InvalidToken(MALFORMED) from None
            kid = header.get("kid")
        key = await self._keys.key_for(kid if isinstance(kid, str) else None)
        try:
            claims = self._jwt.decode(
                token,
                key,
                algorithms=algorithms_for(key),
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
            )
        except jwt.InvalidTokenError as error:
            raise InvalidToken(_describe(error)) from None
        except (TypeError, ValueError):
            # Whatever else attacker-controlled input provokes in the library is still a bad token.
            raise InvalidToken(INVALID) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise InvalidToken(EMPTY_SUBJECT)
        if len(subject) > SUBJECT_MAX_LENGTH:
            raise InvalidToken(LONG_SUBJECT)
        if _UNUSABLE_SUBJECT.search(subject):
            raise InvalidToken(BAD_SUBJECT)
        # PyJWT has checked that `exp` is present and an integer.
        return subject, float(claims["exp"])


# Every description a client can see. They are fixed strings (never the token, never library messages)
# because they go into the WWW-Authenticate header as a quoted string.
MISSING = "a bearer token is required"
NOT_BEARER = "the authorization scheme must be Bearer"
EMPTY = "the bearer token is empty"
MALFORMED = "token is malformed"
UNKNOWN_KEY = "token signing key is unknown"
EXPIRED = "token has expired"
NOT_YET_VALID = "token is not yet valid"
WRONG_AUDIENCE = "token audience is not accepted"
WRONG_ISSUER = "token issuer is not accepted"
WRONG_ALGORITHM = "token algorithm is not accepted"
BAD_SIGNATURE = "token signature is invalid"
EMPTY_SUBJECT = "token subject is empty"
LONG_SUBJECT = "token subject is too long"
BAD_SUBJECT = "token subject contains control characters"
TOO_LARGE = "the bearer token is too large"
INVALID = "token is invalid"
MISSING_CLAIM = {claim: f"token lacks the required '{claim}' claim" for claim in (*REQUIRED_CLAIMS, "iss")}

DESCRIPTIONS = frozenset(
    {
        MISSING,
        NOT_BEARER,
        EMPTY,
        MALFORMED,
        UNKNOWN_KEY,
        EXPIRED,
        NOT_YET_VALID,
        WRONG_AUDIENCE,
        WRONG_ISSUER,
        WRONG_ALGORITHM,
        BAD_SIGNATURE,
        EMPTY_SUBJECT,
        LONG_SUBJECT,
        BAD_SUBJECT,
        TOO_LARGE,
        INVALID,
        *MISSING_CLAIM.values(),
    }
)


def _describe(error: jwt.InvalidTokenError) -> str:
    if type(error) is jwt.InvalidTokenError:
        # PyJWT raises the bare base class for header defects: a non-string `kid`, an unknown `crit`.
        return MALFORMED
    match error:
        case jwt.ExpiredSignatureError():
            return EXPIRED
        case jwt.ImmatureSignatureError():
            # Both `nbf` and `iat` later than now (plus leeway).
            return NOT_YET_VALID
        case jwt.InvalidAudienceError():
            return WRONG_AUDIENCE
        case jwt.InvalidIssuerError():
            return WRONG_ISSUER
        case jwt.MissingRequiredClaimError():
            return MISSING_CLAIM.get(error.claim, INVALID)
        case jwt.InvalidAlgorithmError():
            return WRONG_ALGORITHM
        case jwt.InvalidSignatureError():
            return BAD_SIGNATURE
        case jwt.DecodeError():
            return MALFORMED
        case _:
            return INVALID


def mint_token(
    private_key: PrivateKeyTypes,
    *,
    subject: str,
    audience: str,
    issuer: str | None = None,
    ttl_seconds: int = 3600,
    kid: str | None = None,
    algorithm: str = "RS256",
    extra_claims: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    if issuer:
        claims["iss"] = issuer
    claims.update(extra_claims or {})
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, private_key, algorithm=algorithm, headers=headers)  # type: ignore[arg-type]
