"""Test set-up: real Redis and PostgreSQL from deploy/local/services.sh, a fresh database per run.

Each test that needs isolation makes its own organisation, so tests never flush shared state.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from switchboard.db import create_pool, migrate

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "deploy" / "local" / "services.sh"


def _service_env() -> dict[str, str]:
    out = subprocess.run(["bash", str(SERVICES), "env"], check=True, capture_output=True, text=True).stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        k, _, v = line.removeprefix("export ").partition("=")
        env[k] = v
    return env


@pytest.fixture(scope="session")
def service_env() -> dict[str, str]:
    subprocess.run(["bash", str(SERVICES), "start"], check=True, env={**os.environ, "SWITCHBOARD_PG_FAST": "1"})
    return _service_env()


@pytest.fixture(scope="session")
def redis_url(service_env: dict[str, str]) -> str:
    return service_env["SWITCHBOARD_REDIS_URL"]


@pytest.fixture(scope="session")
async def database_url(service_env: dict[str, str]) -> AsyncIterator[str]:
    """A database of this test run's own, migrated, dropped at the end."""
    admin_url = service_env["SWITCHBOARD_DATABASE_URL"]
    name = f"sbtest_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    await migrate(url)
    yield url
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, min_size=1, max_size=10)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def org_id() -> str:
    """A fresh organisation id, so each test's Redis keys and rows are its own."""
    return f"t{uuid.uuid4().hex[:10]}"


# -- the application, served for real on a random port ----------------------------------------

import socket as _socket  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import aiohttp  # noqa: E402
import socketio  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402

from switchboard.clock import SystemClock  # noqa: E402
from switchboard.demo import seed_org  # noqa: E402
from switchboard.settings import Settings  # noqa: E402


def free_port() -> int:
    with _socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_settings(database_url: str, redis_url: str, **over: object) -> Settings:
    return Settings(redis_url=redis_url, database_url=database_url, secret_key="test-secret-" + "x" * 20,
                    seat_grace_s=2, timer_poll_ms=50, login_rate_per_min=1000, **over)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def server(database_url: str, redis_url: str) -> AsyncIterator[TestServer]:
    from web.app import create_app

    app = create_app(test_settings(database_url, redis_url))
    srv = TestServer(app, host="127.0.0.1", port=free_port())
    await srv.start_server()
    yield srv
    await srv.close()


@dataclass
class Org:
    id: str
    base: str
    api_key: str
    users: dict[str, str]
    domain: str

    def email(self, local: str) -> str:
        return f"{local}@{self.domain}"


@pytest.fixture
async def org(server: TestServer, pool: asyncpg.Pool, redis: aioredis.Redis, org_id: str) -> Org:
    """A fresh copy of the demo organisation, with its own users, key and licenses."""
    domain = f"{org_id}.test"
    key = f"key-{org_id}"
    users = await seed_org(pool, redis, SystemClock(), org_id, email_domain=domain, api_key=key)
    return Org(org_id, str(server.make_url("")).rstrip("/"), key, users, domain)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def login_token(http: aiohttp.ClientSession, org: Org, local: str) -> str:
    async with http.post(f"{org.base}/api/v1/auth/login", json={"email": org.email(local), "password": "switchboard"}) as r:
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
        for name in ("session", "offer", "offer:revoked", "agent:state", "interaction:connected", "message",
                     "interaction:ended", "interaction:completed"):
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
        await self.sio.connect(self.org.base, namespaces=["/agent"], auth={"token": self.token},
                               transports=["websocket"], wait_timeout=5)

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


import asyncio  # noqa: E402


@pytest.fixture
async def agents(http: aiohttp.ClientSession, org: Org) -> AsyncIterator[object]:
    made: list[AgentClient] = []

    async def make(local: str, connect: bool = True) -> AgentClient:
        c = AgentClient(org, await login_token(http, org, local))
        if connect:
            await c.connect()
        made.append(c)
        return c

    yield make
    for c in made:
        await c.close()


async def intake(http: aiohttp.ClientSession, org: Org, body: dict, key: str | None = None):  # type: ignore[no-untyped-def, type-arg]
    headers = {"Authorization": f"Bearer {org.api_key}"}
    if key:
        headers["Idempotency-Key"] = key
    async with http.post(f"{org.base}/api/v1/interactions", json=body, headers=headers) as r:
        return r.status, await r.json()
