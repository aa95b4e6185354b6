"""/docs in Debian's Chromium against a live `orders-app serve` with real authentication and no internet.

Every request the page makes to a host other than the loopback one is aborted and counted: the page must
work with none. The test pastes a real token into the page once, creates an order and lists it from the
page, checks that the Content-Security-Policy blocked nothing and the console stayed clean, writes
screenshots to .ci/artifacts/ (api-docs.png is the one in the README, docs/api-docs.png) and prints the
bytes the first load transferred.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import TokenMinter
from tests.live_server import LiveServer, base_env

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".ci" / "artifacts"
CHROMIUM = os.environ.get("ORDERS_CHROMIUM", "/usr/bin/chromium")
# What works as root in a container without a GPU or a network; the profile directory is fresh per test.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
ORDERS_OPERATIONS = {
    ("GET", "/orders"),
    ("POST", "/orders"),
    ("GET", "/orders/{order_id}"),
    ("PUT", "/orders/{order_id}"),
    ("DELETE", "/orders/{order_id}"),
    ("POST", "/orders/{order_id}/pay"),
    ("POST", "/orders/{order_id}/cancel"),
}
# Collected before any page script runs (an init script is not itself subject to the page's policy).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(event.violatedDirective + ' ' + event.blockedURI);
});
"""


def _shown_status(operation: Any) -> str:
    """The status code the page shows for the request it just made."""
    cell = operation.locator(".live-responses-table tr.response .response-col_status").first
    cell.wait_for()
    return str(cell.inner_text()).strip()


@pytest.fixture
def server(tmp_path: Path, keys: Any) -> Iterator[LiveServer]:
    env = base_env(
        DB_URL=f"sqlite:///{tmp_path / 'orders.db'}",
        JWT_PUBLIC_KEY_FILE=str(keys.public_key),
        AUTH_DISABLED="false",
        ACCESS_LOG="false",
    )
    with LiveServer(tmp_path, env) as live:
        yield live


@pytest.fixture
def browser_context(tmp_path: Path) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium chromium-driver (.ci/lib/browser.sh)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def test_the_reference_page_creates_and_lists_an_order_with_a_real_token(
    server: LiveServer, browser_context: Any, token_for: TokenMinter
) -> None:
    outside: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    browser_context.route("**/*", only_loopback)
    browser_context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = browser_context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    finished: list[Any] = []
    page.on("requestfinished", lambda request: finished.append(request))
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))

    page.goto(f"{server.url}/docs", wait_until="networkidle")
    try:
        page.wait_for_selector(".opblock", timeout=30_000)
    except Exception:
        violations = page.evaluate("window.__cspViolations")
        pytest.fail(f"no operation rendered; CSP violations {violations}, console errors {console_errors}")
    first_load = list(finished)
    transferred = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in first_load)
    print(
        f"\n/docs first load: {len(first_load)} requests, {transferred} bytes transferred "
        f"({transferred / 1024:.0f} KiB): " + ", ".join(urlsplit(r.url).path for r in first_load)
    )

    listed = {
        (
            block.locator(".opblock-summary-method").inner_text().strip(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in page.locator(".opblock").all()
    }
    assert listed >= ORDERS_OPERATIONS, f"missing from the page: {ORDERS_OPERATIONS - listed}"

    # Paste the token once.
    page.click("button.authorize")
    page.fill(".modal-ux input", token_for("browser-user"))
    page.click(".modal-ux .auth-btn-wrapper button.authorize")
    page.click(".modal-ux button.btn-done")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=True)

    create = page.locator(".opblock[id$='-createOrder']")
    create.locator(".opblock-summary").click()
    create.locator("button.try-out__btn").click()
    body = {"order": [{"product": "cappuccino", "size": "medium", "quantity": 2}]}
    create.locator("textarea.body-param__text").fill(json.dumps(body))
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/orders")) as posted:
        create.locator("button.execute").click()
    assert posted.value.status == 201, posted.value.text()
    order = posted.value.json()
    assert order["order"][0]["product"] == "cappuccino"
    assert _shown_status(create) == "201"
    create.locator(".opblock-summary").click()

    listing = page.locator(".opblock[id$='-getOrders']")
    listing.locator(".opblock-summary").click()
    listing.locator("button.try-out__btn").click()
    with page.expect_response(lambda r: r.request.method == "GET" and "/orders" in r.url) as listed_response:
        listing.locator("button.execute").click()
    assert listed_response.value.status == 200
    assert [o["id"] for o in listed_response.value.json()["orders"]] == [order["id"]]
    assert _shown_status(listing) == "200"
    assert order["id"] in listing.locator(".live-responses-table .microlight").first.inner_text()

    listing.locator(".live-responses-table").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "api-docs-list-orders.png"))

    violations = page.evaluate("window.__cspViolations")
    assert outside == [], f"the page tried to reach other hosts: {outside}"
    assert violations == [], f"Content-Security-Policy violations: {violations}"
    assert console_errors == [], f"console errors: {console_errors}"
    assert failed == [], f"failed requests: {failed}"
