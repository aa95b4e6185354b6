"""What a failed engine or cloud CLI command said, read in this one place: by its exit status, then by the
phrases and the HTTP status forms those programs report, never by digits found anywhere in the text."""

from __future__ import annotations

import dataclasses
import re

from tools.publish.commands import PublishError, Result

AUTH_MARKERS = (
    "unauthorized",
    "authentication required",
    "no basic auth credentials",
    "incorrect username or password",
    "authorization token has expired",
    "invalid username/password",
    "access token",
)
MISSING_MARKERS = (
    "no such manifest",
    "manifest unknown",
    "not found",
    "name unknown",
    "repositorynotfoundexception",
    "does not exist",
)


def _status_code(code: int) -> re.Pattern[str]:
    # An HTTP status only where an engine reports one ("status 401", "StatusCode: 404", "HTTP/1.1 401"),
    # never as digits inside a host, port, path or image name such as 127.0.0.1:58401.
    return re.compile(rf"(?:status(?:[ _]?code)?|http(?:/[\d.]+)?|registry)\W{{1,3}}{code}(?![\w.:/-])")


AUTH_STATUS = _status_code(401)
MISSING_STATUS = _status_code(404)


def is_auth_failure(text: str) -> bool:
    text = text.lower()
    return any(marker in text for marker in AUTH_MARKERS) or AUTH_STATUS.search(text) is not None


def is_missing(text: str) -> bool:
    text = text.lower()
    return any(marker in text for marker in MISSING_MARKERS) or MISSING_STATUS.search(text) is not None


@dataclasses.dataclass(frozen=True)
class Failure:
    """A failed command's answer, classified. Each step decides what matters to it, in its own order."""

    detail: str  # the one line quoted in error messages
    unauthorized: bool  # the registry refused the credentials (or had none)
    missing: bool  # no such image, tag or repository
    login_rejected: bool  # an engine's login said its attempt failed
    no_aws_credentials: bool  # the AWS CLI found no usable credentials
    no_ecr_repository: bool  # ECR's own answer for a repository that does not exist
    invalid_name: bool  # the engine or ECR refused the name itself
    upstream: str  # the program earlier in a pipe that failed, if it was that one


def classify(result: Result) -> Failure | None:
    """None for a command that succeeded."""
    if result.ok:
        return None
    detail = result.detail
    return Failure(
        detail=detail,
        unauthorized=is_auth_failure(detail),
        missing=is_missing(detail),
        login_rejected="login attempt" in detail,
        no_aws_credentials="credentials" in detail.lower(),
        no_ecr_repository="RepositoryNotFoundException" in result.stderr,
        invalid_name="invalid reference format" in detail or "InvalidParameterException" in result.stderr,
        upstream=result.upstream,
    )


def not_logged_in(host: str, detail: str, how: str) -> PublishError:
    return PublishError(f"not logged in to {host} ({detail}): {how}")
