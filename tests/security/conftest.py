"""Security fixtures: bearer credentials for every role, and a second organisation to try to cross into."""

from __future__ import annotations

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from harness import Org
from security_creds import Creds, make_org, token_for


@pytest.fixture
async def other_org(server: TestServer, pool: asyncpg.Pool, redis: aioredis.Redis) -> Org:
    """A second tenant, seeded like the first, whose admin must see nothing of `org`."""
    return await make_org(server, pool, redis)


@pytest.fixture
def creds(org: Org, other_org: Org) -> Creds:
    return Creds({
        "none": "",
        "agent": token_for(org, "agent1", "agent"),
        "agent2": token_for(org, "agent2", "agent"),
        "supervisor": token_for(org, "supervisor", "supervisor"),
        "admin": token_for(org, "admin", "admin"),
        "integration": org.api_key,
        "other_admin": token_for(other_org, "admin", "admin"),
        "other_integration": other_org.api_key,
    })
