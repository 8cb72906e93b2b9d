"""Credentials for every role and a second organisation, for the security tests (fixtures in conftest.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from harness import TEST_SECRET, Org

from switchboard.clock import SystemClock
from switchboard.demo import seed_org
from web.auth import issue_token


@dataclass
class Creds:
    """Bearer values by role name: none, agent, agent2, supervisor, admin, integration, other_admin."""

    bearer: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        value = self.bearer.get(role, "")
        return {"Authorization": f"Bearer {value}"} if value else {}


def token_for(org: Org, local: str, role: str, ttl_s: int = 3600) -> str:
    """A real signed token, issued without a login so the login rate limit stays out of the way."""
    token, _, _ = issue_token(TEST_SECRET, org.id, org.users[org.email(local)], role, ttl_s)  # type: ignore[arg-type]
    return token


async def make_org(server: TestServer, pool: asyncpg.Pool, redis: aioredis.Redis) -> Org:
    org_id = f"t{uuid.uuid4().hex[:10]}"
    domain = f"{org_id}.test"
    key = f"key-{org_id}"
    users = await seed_org(pool, redis, SystemClock(), org_id, email_domain=domain, api_key=key)
    return Org(org_id, str(server.make_url("")).rstrip("/"), key, users, domain)
