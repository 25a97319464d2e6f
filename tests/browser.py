"""The browser tests' fixtures (a plugin of conftest): Debian's chromium driven by Playwright, a
fresh tab on the live server, and the login form filled in."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
INSTALL_CHROMIUM = "install Debian's chromium (sudo apt-get install chromium) to run the browser tests"
TIMEOUT_MS = 90_000  # generous: two cores run the browser, the web server and the workers at once


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's chromium driven by Playwright (Playwright's own browser downloads are not used)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: {INSTALL_CHROMIUM}")
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.fail(f"{CHROMIUM} did not start ({exc}): {INSTALL_CHROMIUM}")
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser, live_server: str) -> Iterator[Page]:
    """A fresh browser tab (no cookies) on the live server, 1280 px wide."""
    context = chromium.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def log_in(page: Page, username: str, password: str) -> None:
    """Fill in and submit the login form."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def start_job_in_browser(page: Page, tmp_path: Path, numbers: list[str]) -> None:
    """Upload a CSV of ``numbers`` from the dashboard and land on the job page."""
    csv_file = tmp_path / "pos.csv"
    csv_file.write_text("po_number\n" + "\n".join(numbers) + "\n")
    page.goto("/")
    page.locator('form[action$="/jobs/purchase-orders"] input[type=file]').set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload and start").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
