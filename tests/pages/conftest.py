"""A page test harness: a served Hallmark and a headless Chromium, as pytest fixtures.

- `served`: a fully started Hallmark (its own anvil, contracts, a SQLite database) answering on
  a free port of 127.0.0.1, once per test session;
- `browser`: Debian's chromium driven by playwright (never a downloaded browser);
- `visit`: a fresh browser context at phone width (390x844) and at laptop width (1280x800),
  JavaScript off (every page must work without it). A request to any other origin is blocked
  and fails the test, and so does a console error or a page error (a test that provokes an
  error status declares it with `visit.expect_error`). `visit.shot(name)` writes a full-page
  screenshot under the session's temporary directory; the paths are printed at the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

from hallmark.config import Settings
from hallmark.runtime import Runtime
from hallmark.services.access import staff as staff_accounts
from tests.serving import served_api

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}
SCREENSHOTS: list[Path] = []


@dataclass
class Served:
    """A Hallmark answering at `url`."""

    url: str
    runtime: Runtime


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = Settings(
        environment="test",  # type: ignore[arg-type]
        data_dir=tmp_path_factory.mktemp("served"),
        anvil_port=0,
        keystore_scrypt_n=1024,
        password_hash_memory_kib=1024,
        _env_file=None,  # type: ignore[call-arg]
    )
    runtime = Runtime(settings)
    runtime.start()
    try:
        with served_api(runtime, log_config=None) as url:
            yield Served(url, runtime)
    finally:
        runtime.stop()


# Package-scoped: while the sync API runs, its event loop is the thread's running loop, which
# would break asyncio.run in every test collected after this package.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@dataclass
class Visit:
    """One browser context on the served Hallmark, watched for what must not happen."""

    page: Page
    base: str
    viewport: str
    folder: Path
    test: str
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def path(self) -> str:
        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def shot(self, name: str) -> Path:
        """A full-page screenshot, named by test, viewport and `name`."""
        target = self.folder / f"{self.test}-{self.viewport}-{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        SCREENSHOTS.append(target)
        print(f"screenshot: {target}")
        return target

    def expect_error(self, pattern: str) -> None:
        """A console error the test provokes on purpose (an error status it asked for)."""
        self.expected.append(re.compile(pattern))

    def fits_width(self) -> bool:
        """Whether nothing on the page is wider than the viewport (no sideways scrolling).
        Evaluated by the browser's developer protocol, which works with the page's own
        JavaScript off, once the page has loaded: a click returns when the next page's document
        is parsed, maybe before its stylesheets apply, and an unstyled page is not the one to
        measure."""
        self.page.wait_for_load_state("load")
        return bool(
            self.page.evaluate(
                "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
            )
        )


@pytest.fixture(params=sorted(VIEWPORTS))
def visit(
    request: pytest.FixtureRequest, served: Served, browser: Browser, screenshots: Path
) -> Iterator[Visit]:
    viewport = request.param
    context = browser.new_context(
        viewport=VIEWPORTS[viewport],  # type: ignore[arg-type]
        java_script_enabled=False,
        locale="en-GB",
    )
    page = context.new_page()
    name = re.sub(r"\W+", "-", request.node.originalname).strip("-")
    current = Visit(page, served.url, viewport, screenshots, name)
    origin = urlsplit(served.url)

    def guard(route: Route) -> None:
        target = urlsplit(route.request.url)
        if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
            current.blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            current.errors.append(message.text)

    context.route("**/*", guard)
    page.on("console", console)
    page.on("pageerror", lambda error: current.errors.append(str(error)))
    try:
        yield current
    finally:
        context.close()
    assert not current.blocked, f"requests to other origins: {current.blocked}"
    unexpected = [e for e in current.errors if not any(p.search(e) for p in current.expected)]
    assert not unexpected, f"console errors: {unexpected}"


def new_staff(served: Served, organisation: str, username: str, name: str, role: str) -> str:
    """A staff account of `organisation` with `role`; its temporary password."""
    assert served.runtime.sessions is not None
    _, temporary = staff_accounts.create_staff(
        sessions=served.runtime.sessions,
        policy=staff_accounts.StaffPolicy.from_settings(served.runtime.settings),
        organisation_ref=organisation,
        username=username,
        name=name,
        role=role,
    )
    return temporary


def first_sign_in(
    visit: Visit, served: Served, *, organisation: str, username: str, name: str, password: str
) -> str:
    """A new legal team member of `organisation` signs in for the first time at the sign-in page
    the browser shows: enrols the authenticator (required for legal) with a code computed by
    pyotp and chooses `password`; back at the page asked for. The authenticator's secret."""
    temporary = new_staff(served, organisation, username, name, "legal")
    page = visit.page
    assert visit.path().startswith("/console/sign-in")
    page.fill("#username", username)
    page.fill("#password", temporary)
    page.get_by_role("button", name="Sign in").click()
    assert visit.path().startswith("/console/sign-in/authenticator")  # TOTP is required
    secret = page.locator(".secret code").inner_text().replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Finish set-up").click()
    page.fill("#current_password", temporary)
    page.fill("#new_password", password)
    page.fill("#confirm_password", password)
    page.get_by_role("button", name="Save and continue").click()
    return secret


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS:
        terminalreporter.section("page screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))
