"""Users' token cutoffs and socket connects through a Redis outage, on an app with a Redis of the
test's own (the shared one is never stopped): a cutoff made while Redis is down is refused at once
(PostgreSQL) and after Redis is back (resync), a Redis that came back empty is refilled, and a socket
connect during the outage is refused with service_unavailable instead of hanging; the agent desktop
retries it and connects once Redis is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from fleet import Stores, wait_until
from harness import AgentClient, Org, Pages, chromium, connect_agent, connect_to, free_port, login_token
from harness import test_settings as settings_for
from playwright.async_api import expect

from licensing import seats
from switchboard import keys, redis_conn
from switchboard.clock import SystemClock
from switchboard.demo import seed_org
from web.revocation import SYNCED


@dataclass
class Site:
    stores: Stores
    org: Org
    pool: asyncpg.Pool

    async def redis_down(self) -> None:
        await asyncio.to_thread(self.stores.stop_redis)

    async def redis_up(self) -> None:
        await asyncio.to_thread(self.stores.start_redis)

    def user(self, local: str) -> str:
        return self.org.users[self.org.email(local)]


@pytest.fixture(scope="module")
async def site(database_url: str, pool: asyncpg.Pool) -> AsyncIterator[Site]:
    from web.app import create_app

    stores = Stores(Path(tempfile.mkdtemp(prefix="sbcutoff-")))
    await asyncio.to_thread(stores.start_redis)
    srv = TestServer(create_app(settings_for(database_url, stores.redis_url)), host="127.0.0.1", port=free_port())
    await srv.start_server()
    org_id = f"t{uuid.uuid4().hex[:10]}"
    redis = redis_conn.connect(stores.redis_url, 2)
    try:
        users = await seed_org(pool, redis, SystemClock(), org_id, email_domain=f"{org_id}.test", api_key=f"k-{org_id}")
    finally:
        await redis.aclose()
    try:
        yield Site(stores, Org(org_id, str(srv.make_url("")).rstrip("/"), f"k-{org_id}", users, f"{org_id}.test"), pool)
    finally:
        await asyncio.to_thread(stores.start_redis)  # the app shuts down with its Redis there
        await srv.close()
        await asyncio.to_thread(stores.stop_redis)


@pytest.fixture(scope="module")
async def second_node(site: Site, database_url: str) -> AsyncIterator[str]:
    """Another app on the same Redis and PostgreSQL: the base URL of a node the admin is not on."""
    from web.app import create_app

    srv = TestServer(create_app(settings_for(database_url, site.stores.redis_url)), host="127.0.0.1", port=free_port())
    await srv.start_server()
    try:
        yield str(srv.make_url("")).rstrip("/")
    finally:
        await asyncio.to_thread(site.stores.start_redis)
        await srv.close()


async def rest(http: aiohttp.ClientSession, site: Site, token: str, method: str = "GET",
               path: str = "/api/v1/skills", **kw: Any) -> tuple[int, Any]:
    async with http.request(method, f"{site.org.base}{path}", headers={"Authorization": f"Bearer {token}"}, **kw) as r:
        return r.status, await r.json()


async def login(http: aiohttp.ClientSession, site: Site, local: str, password: str) -> int:
    async with http.post(f"{site.org.base}/api/v1/auth/login",
                         json={"email": site.org.email(local), "password": password}) as r:
        return r.status


async def supervisor_refusal(base: str, token: str) -> Any:
    sio, refused = await connect_to(base, "/supervisor", {"token": token})
    await sio.disconnect()
    return refused


async def sign_in(page: Any, site: Site, local: str) -> None:
    """Sign in on the agent desktop (not waiting for its socket: a test may expect it refused)."""
    await page.goto(f"{site.org.base}/agent")
    await page.get_by_label("Email").fill(site.org.email(local))
    await page.get_by_label("Password").fill("switchboard")
    await page.get_by_role("button", name="Sign in").click()


async def on_desktop(page: Any, site: Site, local: str) -> None:
    await sign_in(page, site, local)
    await expect(page.locator("body")).to_have_attribute("data-sessions", re.compile(r"^[1-9]"))


async def test_a_socket_on_another_node_is_ended_when_its_agent_is_deactivated(site: Site, second_node: str) -> None:
    async with aiohttp.ClientSession() as http:
        admin = await login_token(http, site.org, "admin")
        token = await login_token(http, site.org, "agent4")
        client = AgentClient(dataclasses.replace(site.org, base=second_node), token)
        ended: list[Any] = []
        gone = asyncio.Event()
        client.sio.on("session:ended", ended.append, namespace="/agent")
        client.sio.on("disconnect", lambda *a: gone.set(), namespace="/agent")
        await client.connect()
        try:
            await client.wait("session")
            status, _ = await rest(http, site, admin, "DELETE", f"/api/v1/users/{site.user('agent4')}")
            assert status == 200
            await asyncio.wait_for(gone.wait(), 5)
            assert ended and ended[0]["reason"] == "deactivated", ended
            r = redis_conn.connect(site.stores.redis_url, 2)
            try:
                assert site.user("agent4") not in await seats.holders(r, site.org.id)
            finally:
                await r.aclose()
            sio, refused = await connect_agent(second_node, token)
            await sio.disconnect()
            assert isinstance(refused, dict) and refused["code"] == "unauthorized", refused
        finally:
            await client.close()


async def test_socket_connects_during_the_outage_are_refused_quickly_with_service_unavailable(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        agent = await login_token(http, site.org, "agent1")
        sup = await login_token(http, site.org, "supervisor")
        await site.redis_down()
        try:
            for namespace, attempt in (("/agent", connect_agent), ("/supervisor", None)):
                started = time.monotonic()
                if attempt is None:
                    refused = await supervisor_refusal(site.org.base, sup)
                else:
                    sio, refused = await attempt(site.org.base, agent)
                    await sio.disconnect()
                took = time.monotonic() - started
                assert isinstance(refused, dict) and refused["code"] == "service_unavailable", (namespace, refused)
                assert "retry" in refused["message"], refused
                assert took < 3, f"{namespace}: refused after {took:.1f} s"
        finally:
            await site.redis_up()

        async def connects() -> bool:
            sio, refused = await connect_agent(site.org.base, agent)
            await sio.disconnect()
            return refused is None

        assert await wait_until(connects, 10, every=0.5), "no /agent connect once Redis was back"


async def test_a_password_changed_during_the_outage_ends_old_tokens_then_and_after(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        admin = await login_token(http, site.org, "admin")
        old = await login_token(http, site.org, "agent1")
        uid = site.user("agent1")
        new_password = {"password": "outage-pass-1"}
        await site.redis_down()
        try:
            status, err = await rest(http, site, admin, "PATCH", f"/api/v1/users/{uid}", json=new_password)
            # stored and revoked; only ending live sockets waits for Redis, so the admin is asked to retry
            assert (status, err["error"]["code"]) == (503, "service_unavailable"), err
            status, err = await rest(http, site, old)
            assert (status, err["error"]["message"]) == (401, "token revoked"), err
            assert await login(http, site, "agent1", "switchboard") == 401
            fresh = await login_token_with(http, site, "agent1", "outage-pass-1")
            assert (await rest(http, site, fresh))[0] == 200
        finally:
            await site.redis_up()
        r = redis_conn.connect(site.stores.redis_url, 2)
        try:
            async def copied() -> bool:
                return await r.hget(keys.token_cutoffs(), uid) is not None

            assert await wait_until(copied, 5, every=0.1), "the cutoff never reached Redis"
            stored = await site.pool.fetchval("SELECT tokens_valid_after FROM users WHERE id=$1::uuid", uid)
            assert float(await r.hget(keys.token_cutoffs(), uid)) == stored.timestamp()
        finally:
            await r.aclose()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            assert (await rest(http, site, old))[0] == 401, "a token cut off during the outage was accepted"
            assert (await rest(http, site, fresh))[0] == 200
            await asyncio.sleep(0.1)
        # the retry the 503 asked for: answered now
        status, body = await rest(http, site, admin, "PATCH", f"/api/v1/users/{uid}", json=new_password)
        assert status == 200, body


async def login_token_with(http: aiohttp.ClientSession, site: Site, local: str, password: str) -> str:
    async with http.post(f"{site.org.base}/api/v1/auth/login",
                         json={"email": site.org.email(local), "password": password}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["token"])


async def test_a_redis_that_came_back_empty_gets_the_cutoffs_again(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        admin = await login_token(http, site.org, "admin")
        old = await login_token(http, site.org, "agent2")
        uid = site.user("agent2")
        status, _ = await rest(http, site, admin, "PATCH", f"/api/v1/users/{uid}", json={"role": "supervisor"})
        assert status == 200
        assert (await rest(http, site, old))[0] == 401
        await site.redis_down()
        shutil.rmtree(site.stores.run_dir / "redis")  # comes back without its data
        await site.redis_up()
        r = redis_conn.connect(site.stores.redis_url, 2)
        try:
            async def refilled() -> bool:
                cutoffs = keys.token_cutoffs()
                return await r.hget(cutoffs, uid) is not None and await r.hexists(cutoffs, SYNCED)

            assert await wait_until(refilled, 5, every=0.1), "the cutoffs were never copied back"
            assert await r.sismember(keys.revoked_tokens(), SYNCED)
        finally:
            await r.aclose()
        assert (await rest(http, site, old))[0] == 401
        assert (await rest(http, site, admin))[0] == 200


@pytest.mark.browser
async def test_the_desktop_retries_a_connect_refused_as_unavailable_and_connects_after(site: Site) -> None:
    async with chromium() as browser:
        pages = Pages(browser, viewport={"width": 1366, "height": 768}, timeout_ms=8000)
        try:
            page = await pages.new()
            await site.redis_down()
            try:
                await sign_in(page, site, "agent5")
                banner = page.locator("#connection")
                await expect(banner).to_contain_text("temporarily unavailable")
                await expect(banner).to_have_attribute("data-state", "warn")
                await expect(page.locator("body")).not_to_have_attribute("data-sessions", re.compile(r"^[1-9]"))
            finally:
                await site.redis_up()
            # still on the desktop, not sent back to sign in: the retry connects once Redis answers
            await expect(page.locator("body")).to_have_attribute("data-sessions", re.compile(r"^[1-9]"), timeout=15000)
        finally:
            await pages.close()


@asynccontextmanager
async def desktop_of(site: Site, local: str) -> AsyncIterator[tuple[aiohttp.ClientSession, str, Any]]:
    """An agent's desktop signed in and connected, with an HTTP session and an admin token to act on it."""
    async with aiohttp.ClientSession() as http, chromium() as browser:
        admin = await login_token(http, site.org, "admin")
        pages = Pages(browser, viewport={"width": 1366, "height": 768}, timeout_ms=8000)
        try:
            page = await pages.new()
            await on_desktop(page, site, local)
            yield http, admin, page
        finally:
            await pages.close()


@pytest.mark.browser
async def test_the_desktop_of_a_deactivated_agent_says_so_and_asks_to_sign_in(site: Site) -> None:
    async with desktop_of(site, "agent3") as (http, admin, page):
        status, _ = await rest(http, site, admin, "DELETE", f"/api/v1/users/{site.user('agent3')}")
        assert status == 200
        # the sign-in view's alert: until the desktop hides, its own notices are alerts too (the
        # "logged out" one here), and an ambiguous locator fails an expect at once
        sign_in = page.locator("#login-view")
        await expect(sign_in.get_by_role("alert")).to_contain_text("Your account was deactivated by an admin")
        await expect(sign_in.get_by_role("button", name="Sign in")).to_be_visible()


@pytest.mark.browser
async def test_a_desktop_reopened_with_a_token_cut_off_meanwhile_says_why(site: Site) -> None:
    """Closed (navigated away) while the admin changed the password: the socket was not there to be
    told, so the refused connect says why instead of just "token revoked"."""
    async with desktop_of(site, "agent5") as (http, admin, page):
        await page.goto("about:blank")
        status, _ = await rest(http, site, admin, "PATCH", f"/api/v1/users/{site.user('agent5')}",
                               json={"password": "a-new-secret-7"})
        assert status == 200
        await page.goto(f"{site.org.base}/agent")  # the tab still holds the old token
        sign_in = page.locator("#login-view")
        await expect(sign_in.get_by_role("alert")).to_have_text("Your password was changed: sign in again.")
