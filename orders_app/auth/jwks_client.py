"""The HTTP GET of an identity provider's JWKS document: bounded in time and size, no redirects."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

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
    # The scheme and host are checked at start-up (auth.from_settings.build_authenticator).
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
