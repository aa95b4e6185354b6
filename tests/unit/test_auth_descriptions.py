"""Which fixed description a client gets for each of PyJWT's rejections (the WWW-Authenticate text)."""

from __future__ import annotations

import jwt
import pytest

from orders_app.auth.failures import DESCRIPTIONS
from orders_app.auth.verifier import _describe


class _LaterDecodeError(jwt.DecodeError):
    """A subclass a PyJWT release might add: it is described as its nearest known ancestor."""


@pytest.mark.parametrize(
    ("error", "description"),
    [
        # The bare base class is what PyJWT raises for header defects (a non-string kid, an unknown crit).
        (jwt.InvalidTokenError("x"), "token is malformed"),
        (jwt.DecodeError("x"), "token is malformed"),
        (_LaterDecodeError("x"), "token is malformed"),
        # A DecodeError subclass, described as itself.
        (jwt.InvalidSignatureError("x"), "token signature is invalid"),
        (jwt.ExpiredSignatureError("x"), "token has expired"),
        (jwt.ImmatureSignatureError("x"), "token is not yet valid"),
        (jwt.InvalidAudienceError("x"), "token audience is not accepted"),
        (jwt.InvalidIssuerError("x"), "token issuer is not accepted"),
        (jwt.InvalidAlgorithmError("x"), "token algorithm is not accepted"),
        (jwt.MissingRequiredClaimError("sub"), "token lacks the required 'sub' claim"),
        (jwt.MissingRequiredClaimError("exp"), "token lacks the required 'exp' claim"),
        (jwt.MissingRequiredClaimError("iss"), "token lacks the required 'iss' claim"),
        (jwt.MissingRequiredClaimError("jti"), "token is invalid"),
        (jwt.InvalidIssuedAtError("x"), "token is invalid"),
        (jwt.exceptions.InvalidSubjectError("x"), "token is invalid"),
        (jwt.exceptions.InvalidJTIError("x"), "token is invalid"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_each_rejection_gets_its_fixed_description(error: jwt.InvalidTokenError, description: str) -> None:
    assert _describe(error) == description
    assert description in DESCRIPTIONS
