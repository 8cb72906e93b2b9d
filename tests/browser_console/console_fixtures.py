"""Browser fixtures and page helpers for the console tests (imported by this folder's conftest.py).

Kept out of conftest.py because several folders have a conftest.py, so `from conftest import …`
is ambiguous here; the small API helpers the tests need live here instead. The browser itself
and the page's error watch are shared with the desktop tests through harness.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from harness import Pages, artifact, chromium
from playwright.async_api import Browser, Page

__all__ = ["artifact", "browser", "chat", "page", "post_interaction", "sign_in"]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context; any uncaught script error in the page fails the test."""
    pages = Pages(browser, viewport={"width": 1440, "height": 900}, timeout_ms=5000)
    yield await pages.new()
    await pages.close()


async def sign_in(page: Page, base: str, path: str, email: str, password: str = "switchboard") -> None:
    await page.goto(f"{base}{path}")
    form = page.locator("#login-form")
    await form.get_by_label("Email").fill(email)
    await form.get_by_label("Password").fill(password)
    await form.get_by_role("button", name="Sign in").click()
    await page.locator("#app").wait_for(state="visible")


async def post_interaction(http: aiohttp.ClientSession, base: str, api_key: str,
                           body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with http.post(f"{base}/api/v1/interactions", json=body, headers=headers) as r:
        data: dict[str, Any] = await r.json()
        assert r.status == 201, data
        return data


def chat(queue: str, name: str = "Cora", **extra: Any) -> dict[str, Any]:
    identity = {"type": "email", "value": f"{name.lower()}@x.test"}
    return {"channel": "chat", "queue": queue, "customer": {"identity": identity, "name": name},
            "message": {"text": "hello"}, **extra}
