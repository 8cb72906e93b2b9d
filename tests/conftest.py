"""Test set-up: real Redis and PostgreSQL from deploy/local/services.sh, a fresh database per run.

Each test that needs isolation makes its own organisation, so tests never flush shared state.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from switchboard.db import create_pool

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
    async with scratch_database(service_env["SWITCHBOARD_DATABASE_URL"], f"sbtest_{os.getpid()}_") as url:
        yield url


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, min_size=1, max_size=10)
    yield p
    try:
        await asyncio.wait_for(p.close(), 5)
    except TimeoutError:
        p.terminate()  # a connection stuck mid-operation must not hang the session


@pytest.fixture(scope="session")
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    yield client
    try:
        await asyncio.wait_for(client.aclose(), 5)
    except TimeoutError:
        pass


@pytest.fixture
async def quiet_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A database of the test Redis that no app serves. Spool tests use it: the test server's
    reconciler drains every org's spool in its own, and could get to a test's entries between the
    push and the test's look."""
    client = aioredis.from_url(redis_url.rsplit("/", 1)[0] + "/3", decode_responses=True)
    await client.flushdb()  # its own, so each test starts from nothing
    yield client
    await client.aclose()


@pytest.fixture
def org_id() -> str:
    """A fresh organisation id, so each test's Redis keys and rows are its own."""
    return f"t{uuid.uuid4().hex[:10]}"


# -- the application, served for real on a random port ----------------------------------------

import aiohttp
from aiohttp.test_utils import TestServer
from harness import AgentClient, Org, free_port, intake, login_token, scratch_database, test_settings  # noqa: F401

from switchboard.clock import SystemClock
from switchboard.demo import seed_org


@pytest.fixture(scope="session")
async def server(database_url: str, redis_url: str) -> AsyncIterator[TestServer]:
    from web.app import create_app

    app = create_app(test_settings(database_url, redis_url))
    srv = TestServer(app, host="127.0.0.1", port=free_port())
    await srv.start_server()
    yield srv
    try:
        await asyncio.wait_for(srv.close(), 15)
    except TimeoutError:
        pass  # shutting the app down must not hang the session


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
