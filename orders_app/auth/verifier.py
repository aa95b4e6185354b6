"""JWT verification (PyJWT): a fixed list of asymmetric algorithms, the required claims, a usable subject."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from orders_app.auth.failures import (
    BAD_SIGNATURE,
    BAD_SUBJECT,
    EMPTY_SUBJECT,
    EXPIRED,
    INVALID,
    LONG_SUBJECT,
    MALFORMED,
    MISSING_CLAIM,
    NOT_YET_VALID,
    REQUIRED_CLAIMS,
    WRONG_ALGORITHM,
    WRONG_AUDIENCE,
    WRONG_ISSUER,
    InvalidToken,
)
from orders_app.auth.key_sources import KeySource
from orders_app.auth.keys import VerificationKey
from orders_app.auth.verified_cache import VerifiedTokens
from orders_app.domain.limits import OWNER_MAX_LENGTH

# Fixed in code and never read from the token: this is what stops `alg: none` and the classic
# "HS256 signed with the public key as the secret" forgery.
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384"}
ALLOWED_ALGORITHMS = (*RSA_ALGORITHMS, *EC_ALGORITHMS.values())
# The subject becomes the orders' owner, so it must fit that column.
SUBJECT_MAX_LENGTH = OWNER_MAX_LENGTH
# C0 and C1 controls (NUL included) and lone surrogates: PostgreSQL refuses NUL in text, and no
# driver can encode a surrogate: such a subject could never be stored or compared, so it is a 401.
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
            # Parsed only when the key depends on it, as it is costly (docs/bench.md, "JWT
            # verification"); decode() below validates the header (kid type, crit) either way.
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


# The description each PyJWT rejection gets; a subclass takes its nearest listed ancestor's, e.g. an
# InvalidSignatureError (a DecodeError) is BAD_SIGNATURE, and any other InvalidTokenError is INVALID.
_DESCRIBED: dict[type[jwt.InvalidTokenError], str] = {
    jwt.ExpiredSignatureError: EXPIRED,
    # Both `nbf` and `iat` later than now (plus leeway).
    jwt.ImmatureSignatureError: NOT_YET_VALID,
    jwt.InvalidAudienceError: WRONG_AUDIENCE,
    jwt.InvalidIssuerError: WRONG_ISSUER,
    jwt.InvalidAlgorithmError: WRONG_ALGORITHM,
    jwt.InvalidSignatureError: BAD_SIGNATURE,
    jwt.DecodeError: MALFORMED,
}


def _describe(error: jwt.InvalidTokenError) -> str:
    if type(error) is jwt.InvalidTokenError:
        # PyJWT raises the bare base class for header defects: a non-string `kid`, an unknown `crit`.
        return MALFORMED
    if isinstance(error, jwt.MissingRequiredClaimError):
        return MISSING_CLAIM.get(error.claim, INVALID)
    return next((_DESCRIBED[kind] for kind in type(error).__mro__ if kind in _DESCRIBED), INVALID)
