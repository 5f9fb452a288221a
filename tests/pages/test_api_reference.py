"""The API reference at /docs opens in Chromium with every other origin blocked: Swagger UI's
script and stylesheet come from Hallmark itself, and the operations are shown."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser, Route

from tests.pages.conftest import Served


def test_the_api_reference_shows_the_operations_without_internet(
    served: Served, browser: Browser
) -> None:
    context = browser.new_context(java_script_enabled=True)  # Swagger UI is a script
    origin = urlsplit(served.url)
    blocked: list[str] = []
    errors: list[str] = []

    def guard(route: Route) -> None:
        target = urlsplit(route.request.url)
        if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
            blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(served.url + "/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        title = page.locator(".info .title").inner_text()
    finally:
        context.close()
    assert not blocked, f"requests to other origins: {blocked}"
    assert not errors, errors
    assert "Hallmark" in title
    cleaned = {p.replace("\u200b", "").strip() for p in paths}
    assert {"/api/v1/lots", "/api/v1/records/{record_id}", "/api/v1/organisations"} <= cleaned


def test_the_assets_are_served_and_redoc_is_not(served: Served) -> None:
    page = httpx.get(served.url + "/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    script = httpx.get(served.url + "/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert httpx.get(served.url + "/redoc").status_code == 404
