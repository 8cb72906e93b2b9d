"""Browser fixtures and page helpers for the agent-desktop and web-chat tests.

Kept out of conftest.py: several test folders have a conftest.py, so `from conftest import …` is
ambiguous here; the few API helpers these tests need live in this module instead. The browser
itself and the pages' error watch are shared with the console tests through harness.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from harness import Pages, artifact, chromium
from playwright.async_api import Browser, Page, expect

__all__ = ["artifact", "browser", "chat_body", "get_json", "new_page", "open_desktop", "post_json"]

NewPage = Callable[[], Awaitable[Page]]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[NewPage]:
    """Pages in separate browser contexts (separate sessionStorage); a script error fails the test."""
    pages = Pages(browser, viewport={"width": 1366, "height": 768}, timeout_ms=6000)
    yield pages.new
    await pages.close()


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


def chat_body(queue: str, name: str, text: str) -> dict[str, Any]:
    identity = {"type": "email", "value": f"{name.lower()}@example.test"}
    return {"channel": "chat", "queue": queue, "message": {"text": text},
            "customer": {"identity": identity, "name": name}}
