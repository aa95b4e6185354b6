"""Regressions for what contract fuzzing (.ci/fuzz.sh) found, kept as fast, exact tests."""

from __future__ import annotations

import pytest

from tests.conftest import UserClient


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/orders", "GET, OPTIONS, POST"),
        ("/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6", "DELETE, GET, OPTIONS, PUT"),
        ("/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6/pay", "OPTIONS, POST"),
    ],
)
async def test_options_lists_every_method_of_the_resource(user: UserClient, path: str, allow: str) -> None:
    # Litestar 2 listed only the first handler's method (litestar-org/litestar#4169).
    response = await user.request("OPTIONS", path)
    assert response.status_code == 204
    assert response.headers["allow"] == allow


@pytest.mark.parametrize("value", ["null", "1", "True", "yes", ""])
async def test_the_cancelled_filter_accepts_only_true_or_false(user: UserClient, value: str) -> None:
    # As `bool | None`, "cancelled=null" was silently read as "no filter".
    response = await user.get(f"/orders?cancelled={value}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["key"] == "cancelled"
