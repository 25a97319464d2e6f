"""The operators page in a browser: an admin creates a viewer, who must change the password shown
once before anything else, and then sees the jobs without the forms that launch them."""

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.browser import TIMEOUT_MS, log_in


def test_an_admin_creates_a_viewer_in_the_browser(
    operator: tuple[str, str], page: Page, chromium: Browser, live_server: str, tmp_path: Path
) -> None:
    log_in(page, *operator)  # the conftest's operator is an admin
    page.get_by_role("link", name="Operators").click()
    page.get_by_label("Username").fill("vic")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Create with a random password").click()
    expect(page.locator(".shown-once h2")).to_have_text("Password of vic (role viewer)")
    password = page.locator(".shown-once .secret").inner_text()
    expect(page.locator("tr.operator-row", has_text="vic")).to_contain_text("must change password")
    page.screenshot(path=tmp_path / "operators.png", full_page=True)

    context = chromium.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    vic = context.new_page()
    log_in(vic, "vic", password)
    expect(vic).to_have_url(re.compile(r"/account/password$"))
    vic.get_by_label("Current password").fill(password)
    vic.get_by_label("New password (at least 12 characters)").fill("vic's own passphrase")
    vic.get_by_label("New password again").fill("vic's own passphrase")
    vic.get_by_role("button", name="Change password").click()
    expect(vic.locator(".flash-success")).to_have_text("Password changed. Sessions elsewhere have ended.")
    expect(vic.get_by_role("heading", name="Recent jobs")).to_be_visible()
    expect(vic.locator("section.launch")).to_have_count(0)
    expect(vic.locator("p.empty")).to_have_text("No jobs yet.")
    expect(vic.get_by_role("link", name="Operators")).to_have_count(0)
    vic.screenshot(path=tmp_path / "viewer-dashboard.png", full_page=True)
    context.close()

    page.locator("tr.operator-row a", has_text="vic").click()
    page.get_by_label("Name (what it is for)").fill("reporting")
    page.get_by_role("button", name="Issue token").click()
    expect(page.locator(".shown-once h2")).to_contain_text("API token #")
    expect(page.locator("tr.token-row")).to_contain_text("usable")
    page.screenshot(path=tmp_path / "operator.png", full_page=True)
