"""A token's `sub` with NUL, other control characters or a lone surrogate is a 401, never a 500.

PostgreSQL refuses NUL in text and no driver encodes a surrogate, so such a subject would fail every query
it reached. Live server on both databases; the signature is valid, only the subject is unusable.
"""

from __future__ import annotations

import httpx
import pytest

from orders_app.auth.failures import BAD_SUBJECT
from tests.conftest import Backend, TokenMinter
from tests.factories import new_user, order_body
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

UNUSABLE = {
    "nul": "alice\x00",
    "control": "ali\x01ce",
    "newline": "alice\nadmin",
    "delete": "alice\x7f",
    "c1-control": "alice\x85",
    "lone-surrogate": "alice\ud800",
}


@pytest.fixture(scope="module")
def server_db_url(backend: Backend) -> str:
    return backend.url


@pytest.mark.parametrize("subject", list(UNUSABLE.values()), ids=list(UNUSABLE))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unusable_subject_is_401(
    server: LiveServer, token_for: TokenMinter, subject: str, method: str
) -> None:
    headers = {"Authorization": f"Bearer {token_for(subject)}"}
    body = order_body() if method == "POST" else None
    response = httpx.request(method, f"{server.url}/orders", json=body, headers=headers, timeout=10)
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": BAD_SUBJECT}
    assert "Traceback" not in server.stderr()


def test_non_ascii_subjects_are_still_served(server: LiveServer, token_for: TokenMinter) -> None:
    headers = {"Authorization": f"Bearer {token_for('zoë-🙂-' + new_user())}"}
    created = httpx.post(f"{server.url}/orders", json=order_body(), headers=headers, timeout=10)
    assert created.status_code == 201
    assert (
        httpx.get(f"{server.url}/orders", headers=headers, timeout=10).json()["orders"][0]["id"]
        == created.json()["id"]
    )
