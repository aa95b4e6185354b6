"""What a client is told when its token is refused, and the two failures verification raises."""

from __future__ import annotations

# Every token must carry these; each missing one is named to the client (MISSING_CLAIM below).
REQUIRED_CLAIMS = ("exp", "iat", "sub", "aud")


class InvalidToken(Exception):
    """The bearer token is missing or unacceptable. The message never contains the token."""

    def __init__(self, description: str, *, error: str = "invalid_token") -> None:
        self.description = description
        self.error = error
        super().__init__(description)


class KeysUnavailable(Exception):
    """The identity provider's keys could not be fetched (the fault is ours, not the client's)."""


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
