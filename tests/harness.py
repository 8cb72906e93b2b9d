"""Test helpers shared by every test folder (import with `from harness import ...`).

Kept out of conftest.py because several folders have their own conftest.py, which makes
`from conftest import` ambiguous.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import asyncpg
import pytest
import socketio

from switchboard.process import free_port as free_port  # one definition for tests and bench
from switchboard.settings import Settings

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, ViewportSize

TEST_SECRET = "test-secret-" + "x" * 20
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def test_settings(database_url: str, redis_url: str, **over: object) -> Settings:
    """Settings of an in-process test app. Its whole-database reconcile waits an hour: the database is
    every test's, and tests whose routing lives in another Redis (or Redis database) would look lost
    to it and be "recovered" under them. Its 5 s tick (spool replays, orphan sweep) runs as usual."""
    values: dict[str, object] = {"secret_key": TEST_SECRET, "seat_grace_s": 2, "timer_poll_ms": 50,
                                 "login_rate_per_min": 1000, "reconcile_interval_s": 3600.0, **over}
    return Settings(redis_url=redis_url, database_url=database_url, **values)  # type: ignore[arg-type]


@dataclass
class Org:
    id: str
    base: str
    api_key: str
    users: dict[str, str]
    domain: str

    def email(self, local: str) -> str:
        return f"{local}@{self.domain}"


async def login_token(http: aiohttp.ClientSession, org: Org, local: str) -> str:
    async with http.post(
        f"{org.base}/api/v1/auth/login", json={"email": org.email(local), "password": "switchboard"}
    ) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["token"])


_NONE = object()


class AgentClient:
    """A real python-socketio client on /agent that records what the server sends."""

    def __init__(self, org: Org, token: str) -> None:
        self.org = org
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, object]] = []
        self._waiters: list[tuple[str, asyncio.Future[object]]] = []
        self._seen: dict[str, int] = {}
        for name in (
            "session",
            "offer",
            "offer:revoked",
            "agent:state",
            "interaction:connected",
            "message",
            "interaction:ended",
            "interaction:completed",
        ):
            self.sio.on(name, self._recorder(name), namespace="/agent")

    def _recorder(self, name: str):  # type: ignore[no-untyped-def]
        async def rec(data: object) -> None:
            self.events.append((name, data))
            self._wake()

        return rec

    def _wake(self) -> None:
        for ev, fut in list(self._waiters):
            if not fut.done():
                got = self._take(ev)
                if got is not _NONE:
                    fut.set_result(got)
                    self._waiters.remove((ev, fut))

    def _take(self, name: str) -> object:
        seen = self._seen.setdefault(name, 0)
        matches = [d for ev, d in self.events if ev == name]
        if len(matches) > seen:
            self._seen[name] = seen + 1
            return matches[seen]
        return _NONE

    async def connect(self) -> None:
        await self.sio.connect(
            self.org.base, namespaces=["/agent"], auth={"token": self.token}, transports=["websocket"], wait_timeout=5
        )

    async def wait(self, name: str, timeout: float = 5.0) -> object:
        """The next event of this name not yet returned (events that already arrived count)."""
        got = self._take(name)
        if got is not _NONE:
            return got
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiters.append((name, fut))
        return await asyncio.wait_for(fut, timeout)

    def received(self, name: str) -> list[object]:
        return [d for ev, d in self.events if ev == name]

    async def call(self, event: str, data: object = None) -> dict:  # type: ignore[type-arg]
        return await self.sio.call(event, data, namespace="/agent", timeout=5)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.sio.disconnect()


async def intake(http: aiohttp.ClientSession, org: Org, body: dict, key: str | None = None):  # type: ignore[no-untyped-def, type-arg]
    headers = {"Authorization": f"Bearer {org.api_key}"}
    if key:
        headers["Idempotency-Key"] = key
    async with http.post(f"{org.base}/api/v1/interactions", json=body, headers=headers) as r:
        return r.status, await r.json()


def signed_license(
    org_id: str,
    model: str,
    seats: int,
    *,
    days_from: float = -1,
    days_until: float = 30,
    period: str = "month",
    timezone: str = "UTC",
    license_id: str | None = None,
) -> str:
    """A license document signed with the development vendor key."""
    import time
    from datetime import UTC, datetime, timedelta

    from licensing.demo import DEV_PRIVATE_KEY
    from licensing.documents import License, sign_license

    now = datetime.fromtimestamp(time.time(), UTC)
    lic = License(
        license_id=license_id or f"{org_id}-{model}-{seats}",
        org_id=org_id,
        model=model,  # type: ignore[arg-type]
        seats=seats,
        period=period,
        timezone=timezone,  # type: ignore[arg-type]
        valid_from=now + timedelta(days=days_from),
        valid_until=now + timedelta(days=days_until),
    )
    return sign_license(lic, DEV_PRIVATE_KEY.read_bytes())


async def connect_to(
    base: str, namespace: str, auth: Any, wait_timeout: float = 30, client: socketio.AsyncClient | None = None
) -> tuple[socketio.AsyncClient, Any]:
    """Connect a client (a new one, or ``client`` with handlers of its own) to ``namespace``; returns it and
    None, or it and the connect_error data ``{code, message}`` (``{"code": "connect_failed"}`` if none came)."""
    sio = client or socketio.AsyncClient(reconnection=False)
    refused: list[Any] = []
    # the packet is {message, data: {code, message}}
    sio.on("connect_error", lambda data: refused.append(data.get("data", data) if isinstance(data, dict) else data),
           namespace=namespace)
    try:
        await sio.connect(base, namespaces=[namespace], auth=auth, transports=["websocket"], wait_timeout=wait_timeout)
    except socketio.exceptions.ConnectionError:
        await sio.disconnect()  # the transport may be up even though the namespace was refused
        return sio, (refused[0] if refused else {"code": "connect_failed"})
    return sio, None


async def connect_agent(base: str, token: str) -> tuple[socketio.AsyncClient, Any]:
    """Connect to /agent with a bearer token; returns the client and None, or the client and the connect_error data."""
    return await connect_to(base, "/agent", {"token": token})


def artifact(name: str) -> str:
    """A path under test-artifacts/ (screenshots and reports CI keeps)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """The system's headless Chromium (never a downloaded one); skips the test where there is none."""
    from playwright.async_api import async_playwright  # only browser tests pay for the import

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM}")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        await browser.close()


class Pages:
    """Pages each in a browser context of its own (own sessionStorage), watched for script errors."""

    def __init__(self, browser: Browser, viewport: ViewportSize, timeout_ms: float) -> None:
        self.browser = browser
        self.viewport = viewport
        self.timeout_ms = timeout_ms
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    async def new(self) -> Page:
        ctx = await self.browser.new_context(viewport=self.viewport)
        self.contexts.append(ctx)
        page = await ctx.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.set_default_timeout(self.timeout_ms)
        return page

    async def close(self) -> None:
        """Close every context; an uncaught script error in any page fails the test."""
        for ctx in self.contexts:
            await ctx.close()
        assert not self.errors, f"script errors in the page: {self.errors}"


@asynccontextmanager
async def scratch_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """A migrated database of its own, dropped afterwards (never hanging the session on the drop)."""
    import uuid

    from switchboard.db import migrate

    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    await migrate(url)
    try:
        yield url
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await asyncio.wait_for(conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'), 20)
        except TimeoutError:
            pass  # left for the next run's clean machine
        await conn.close()


async def enqueue_new(
    router: Any, org_id: str, q: Any, iid: str, *, channel: str, priority: int, skills: dict[str, int], now_ms: int
) -> dict[str, Any]:
    """A new interaction straight into the routing scripts (no PostgreSQL row), as intake would queue it."""
    from queues.config import escalation_timers
    from queues.model import required_skills

    report: dict[str, Any] = await router.enqueue(
        org_id,
        interaction_id=iid,
        queue=q.name,
        channel=channel,
        priority=priority,
        enqueued_ms=now_ms,
        required=required_skills(q.skills, skills),
        extra=skills,
        preferred_agent=None,
        preferred_until_ms=0,
        customer_id=None,
        customer_name=None,
        subject=None,
        timers=escalation_timers(q, iid, now_ms),
    )
    return report


class AutoAgent:
    """A simulated agent on a real Socket.IO client: accepts every offer, ends and wraps up."""

    def __init__(self, base: str, token: str, name: str) -> None:
        self.base, self.token, self.name = base, token, name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.accepted: list[str] = []
        self.offers: list[str] = []
        self.errors: list[object] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.sio.on("offer", self._on_offer, namespace="/agent")

    async def _on_offer(self, data: dict) -> None:  # type: ignore[type-arg]
        t = asyncio.create_task(self._handle(data))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def _handle(self, data: dict) -> None:  # type: ignore[type-arg]
        iid = data["interaction"]["id"]
        self.offers.append(iid)
        ack = await self.sio.call("offer:accept", {"offer_id": data["offer_id"]}, namespace="/agent", timeout=10)
        if not ack.get("ok"):
            self.errors.append(ack)
            return
        self.accepted.append(iid)
        for event, body in (
            ("interaction:end", {"interaction_id": iid}),
            ("interaction:wrap_up", {"interaction_id": iid, "code": "resolved"}),
        ):
            ack = await self.sio.call(event, body, namespace="/agent", timeout=10)
            if not ack.get("ok"):
                self.errors.append(ack)

    async def connect(self) -> None:
        await self.sio.connect(
            self.base, namespaces=["/agent"], auth={"token": self.token}, transports=["websocket"], wait_timeout=10
        )


async def connect_auto_agents(
    http: aiohttp.ClientSession, org: Org, bases: list[str], locals_: list[str], into: list[AutoAgent]
) -> None:
    """Log each agent in and connect it to the nodes in turn (agent i on bases[i % n]); ``into``
    collects them as they connect, so the caller can disconnect them whatever happens."""
    for i, local in enumerate(locals_):
        base = bases[i % len(bases)]
        a = AutoAgent(base, await login_token(http, dataclasses.replace(org, base=base), local), local)
        await a.connect()
        into.append(a)


def drawn(strategy: Any, n: int) -> list[Any]:
    """``n`` values from a hypothesis ``strategy``, the same ones every run (derandomized, no example
    database): fuzz inputs for tests that send them to a real server themselves."""
    from hypothesis import HealthCheck, Phase, given, settings

    out: list[Any] = []

    @settings(max_examples=n, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(strategy)
    def collect(v: Any) -> None:
        out.append(v)

    collect()
    return out


@asynccontextmanager
async def postgres_unreachable(ctx: Any) -> AsyncIterator[None]:
    """This node loses PostgreSQL: its pool is swapped for a real one whose server does not answer
    (nothing listens on the port), so every query meets the connection error an outage gives."""
    unreachable = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/gone", min_size=0,
                                            max_size=1)
    ctx.pool, reachable = unreachable, ctx.pool
    try:
        yield
    finally:
        ctx.pool = reachable
        await unreachable.close()
