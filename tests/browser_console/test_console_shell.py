"""The console pages' shared skeleton (js/console/shell.js) in a real browser: top bar, role gate,
log out, the way back to sign-in when the session is revoked, and the admin's raw-JSON upload."""

from __future__ import annotations

import pytest
from console_fixtures import sign_in
from harness import signed_license
from playwright.async_api import expect

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("path", "title"), [("/supervisor", "Supervisor sign-in"),
                                             ("/reports", "Sign in to reports"), ("/admin", "Admin sign-in")])
async def test_each_console_page_has_the_top_bar_and_its_sign_in_panel(page, org, path, title):
    await page.goto(f"{org.base}{path}")
    await expect(page.locator("#login-title")).to_have_text(title)
    await expect(page.locator("#app")).to_be_hidden()
    nav = page.get_by_role("navigation", name="Console")
    await expect(nav.get_by_role("link")).to_have_text(["Live floor", "Reports", "Admin"])
    await expect(nav.locator("[aria-current=page]")).to_have_attribute("href", path)
    await expect(page.get_by_role("button", name="Log out")).to_be_hidden()


async def test_a_role_the_page_is_not_for_is_refused_and_not_remembered(page, org):
    await page.goto(f"{org.base}/admin")
    form = page.locator("#login-form")
    await form.get_by_label("Email").fill(org.email("supervisor"))
    await form.get_by_label("Password").fill("switchboard")
    await form.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login-error")).to_contain_text("forbidden: this page is for: admin")
    await expect(page.locator("#app")).to_be_hidden()
    assert await page.evaluate("() => sessionStorage.getItem('switchboard.auth')") is None


async def test_log_out_revokes_the_token_and_shows_the_sign_in_panel(page, org, http):
    await sign_in(page, org.base, "/admin", org.email("admin"))
    await expect(page.locator("#who")).to_contain_text("(admin)")
    token = await page.evaluate("() => JSON.parse(sessionStorage.getItem('switchboard.auth')).token")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#app")).to_be_hidden()
    assert await page.evaluate("() => sessionStorage.getItem('switchboard.auth')") is None
    async with http.get(f"{org.base}/api/v1/users", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 401


async def test_a_session_revoked_elsewhere_brings_back_the_sign_in_panel(page, org, http):
    await sign_in(page, org.base, "/admin", org.email("admin"))
    await expect(page.locator("#users-table")).to_contain_text(org.email("agent1"))
    token = await page.evaluate("() => JSON.parse(sessionStorage.getItem('switchboard.auth')).token")
    async with http.post(f"{org.base}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200
    await page.get_by_role("link", name="Queues").click()  # the section's first load meets a 401
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#app")).to_be_hidden()
    assert await page.evaluate("() => sessionStorage.getItem('switchboard.auth')") is None


async def test_a_pasted_license_document_is_uploaded_as_it_is(page, org):
    await sign_in(page, org.base, "/admin#licenses", org.email("admin"))
    await expect(page.locator("#licenses-table tbody tr")).to_have_count(2)
    await page.get_by_label("…or paste the signed JSON document").fill(signed_license(org.id, "concurrent", 40))
    await page.get_by_role("button", name="Upload license").click()
    await expect(page.locator("#license-notice")).to_contain_text(f"Uploaded {org.id}-concurrent-40")
    await expect(page.locator("#licenses-table")).to_contain_text(f"{org.id}-concurrent-40")
