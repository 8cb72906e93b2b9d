"""Browser fixtures and page helpers for the console tests (imported by this folder's conftest.py).

Kept out of conftest.py because several folders have a conftest.py, so `from conftest import …`
is ambiguous here; the two small API helpers the tests need live here instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip("no /usr/bin/chromium")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context; any uncaught script error in the page fails the test."""
    ctx: BrowserContext = await browser.new_context(viewport={"width": 1440, "height": 900})
    pg = await ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(5000)
    yield pg
    await ctx.close()
    assert not errors, f"script errors in the page: {errors}"


async def sign_in(page: Page, base: str, path: str, email: str, password: str = "switchboard") -> None:
    await page.goto(f"{base}{path}")
    form = page.locator("#login-form")
    await form.get_by_label("Email").fill(email)
    await form.get_by_label("Password").fill(password)
    await form.get_by_role("button", name="Sign in").click()
    await page.locator("#app").wait_for(state="visible")


def artifact(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)


async def post_interaction(http: aiohttp.ClientSession, base: str, api_key: str,
                           body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with http.post(f"{base}/api/v1/interactions", json=body, headers=headers) as r:
        data: dict[str, Any] = await r.json()
        assert r.status == 201, data
        return data


async def token_for(http: aiohttp.ClientSession, base: str, email: str) -> str:
    async with http.post(f"{base}/api/v1/auth/login", json={"email": email, "password": "switchboard"}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["token"])


def chat(queue: str, name: str = "Cora", **extra: Any) -> dict[str, Any]:
    identity = {"type": "email", "value": f"{name.lower()}@x.test"}
    return {"channel": "chat", "queue": queue, "customer": {"identity": identity, "name": name},
            "message": {"text": "hello"}, **extra}
