"""Browser fixtures and page helpers for the agent-desktop and web-chat tests.

Kept out of conftest.py: several test folders have a conftest.py, so `from conftest import …` is
ambiguous here; the few API helpers these tests need live in this module instead.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1366, "height": 768}

NewPage = Callable[[], Awaitable[Page]]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip("no /usr/bin/chromium")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        await b.close()


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[NewPage]:
    """Pages in separate browser contexts (separate sessionStorage); a script error fails the test."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def make() -> Page:
        ctx = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        contexts.append(ctx)
        pg = await ctx.new_page()
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.set_default_timeout(6000)
        return pg

    yield make
    for ctx in contexts:
        await ctx.close()
    assert not errors, f"script errors in the page: {errors}"


def artifact(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)


async def open_desktop(page: Page, base: str, email: str) -> None:
    """Sign in on /agent and wait for the server's session to be rendered."""
    await page.goto(f"{base}/agent")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("switchboard")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("body")).to_have_attribute("data-sessions", re.compile(r"^[1-9]"))


async def post_json(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], token: str
) -> tuple[int, Any]:
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


async def get_json(http: aiohttp.ClientSession, url: str, token: str) -> tuple[int, Any]:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


async def staff_token(http: aiohttp.ClientSession, base: str, email: str) -> str:
    async with http.post(f"{base}/api/v1/auth/login", json={"email": email, "password": "switchboard"}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["token"])


def chat_body(queue: str, name: str, text: str) -> dict[str, Any]:
    identity = {"type": "email", "value": f"{name.lower()}@example.test"}
    return {"channel": "chat", "queue": queue, "message": {"text": text},
            "customer": {"identity": identity, "name": name}}
