"""Floor gauges have one publisher per org: two LiveMetrics (two nodes) sharing Redis, only the lease holder
publishes, with figures counted from Redis; when it stops, the other takes over and the first clears its series.

The two nodes read a database of their own, so the session server (which runs a LiveMetrics too) never
sees this org and cannot take its lease.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
import redis.asyncio as aioredis
import socketio
from harness import scratch_database
from harness import test_settings as settings_for
from prometheus_client import CollectorRegistry

from agents import presence
from agents.store import agent_profile
from queues.config import QueueCache
from routing.router import Router
from switchboard import keys
from switchboard.clock import SystemClock
from switchboard.db import create_pool
from switchboard.demo import seed_org
from web.api.live_metrics import FloorGauges, LiveMetrics
from web.context import Context


@pytest.fixture(scope="module")
async def own_pool(service_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_database(service_env["SWITCHBOARD_DATABASE_URL"], "sbtest_lm_") as url:
        pool = await create_pool(url, min_size=1, max_size=4)
        yield pool
        await pool.close()


@dataclass
class Node:
    ctx: Context
    registry: CollectorRegistry
    metrics: LiveMetrics

    def floor(self, org_id: str) -> dict[tuple[str, str], float]:
        """This node's published samples of the org: (metric, queue or state) -> value."""
        out = {}
        for metric in self.registry.collect():
            for s in metric.samples:
                if s.labels.get("org") == org_id:
                    out[(s.name, s.labels.get("queue") or s.labels["state"])] = s.value
        return out


def node(pool: asyncpg.Pool, redis: aioredis.Redis, name: str) -> Node:
    clock = SystemClock()
    queues = QueueCache(pool, redis)
    ctx = Context(
        settings=settings_for("postgresql://unused", "redis://unused"),
        clock=clock,
        pool=pool,
        redis=redis,
        router=Router(redis, pool, clock, queues),
        queues=queues,
        sio=socketio.AsyncServer(async_mode="aiohttp"),
        node_id=name,
    )
    registry = CollectorRegistry()
    return Node(ctx, registry, LiveMetrics(ctx, FloorGauges.create(registry)))


async def floor_org(pool: asyncpg.Pool, redis: aioredis.Redis, org_id: str, router: Router) -> dict[str, str]:
    """The demo org with agent1 available and agent4 on a break; the other three agents logged out."""
    users = await seed_org(pool, redis, SystemClock(), org_id, email_domain=f"{org_id}.test",
                           api_key=f"key-{org_id}", licenses=False)
    queues = await QueueCache(pool, redis).queues(org_id)
    for local in ("agent1", "agent4"):
        profile = await agent_profile(pool, org_id, users[f"{local}@{org_id}.test"])
        assert profile is not None
        await presence.login(router, profile, queues)
    await router.set_state(org_id, users[f"agent4@{org_id}.test"], "not_ready", "break")
    return users


def expected(available: int, not_ready: int, logged_out: int) -> dict[tuple[str, str], float]:
    figures: dict[tuple[str, str], float] = {
        ("switchboard_agents", "available"): available,
        ("switchboard_agents", "not_ready"): not_ready,
        ("switchboard_agents", "wrap_up"): 0,
        ("switchboard_agents", "logged_out"): logged_out,
    }
    for q in ("billing", "sales", "support"):
        figures[("switchboard_queue_depth", q)] = 0
        figures[("switchboard_queue_longest_wait_seconds", q)] = 0
    return figures


async def test_only_the_lease_holder_publishes_an_orgs_floor(own_pool, redis, org_id):
    a, b = node(own_pool, redis, "lm-a"), node(own_pool, redis, "lm-b")
    users = await floor_org(own_pool, redis, org_id, a.ctx.router)

    assert org_id in await a.metrics.refresh()
    assert org_id not in await b.metrics.refresh()
    assert a.floor(org_id) == expected(available=1, not_ready=1, logged_out=3)
    assert b.floor(org_id) == {}

    # the holder renews its lease round after round; the figures follow Redis
    await a.ctx.router.set_state(org_id, users[f"agent4@{org_id}.test"], "available", None)
    for _ in range(2):
        assert org_id not in await b.metrics.refresh()
        assert org_id in await a.metrics.refresh()
    assert a.floor(org_id) == expected(available=2, not_ready=0, logged_out=3)
    assert b.floor(org_id) == {}


async def test_another_node_takes_over_when_the_holder_stops_and_the_old_one_clears(own_pool, redis, org_id):
    a, b = node(own_pool, redis, "lm-a"), node(own_pool, redis, "lm-b")
    users = await floor_org(own_pool, redis, org_id, a.ctx.router)
    assert org_id in await a.metrics.refresh()
    assert a.floor(org_id)

    await redis.delete(keys.floor_metrics_lease(org_id))  # a stopped renewing: its lease ran out
    await a.ctx.router.logout(org_id, users[f"agent1@{org_id}.test"])
    assert org_id in await b.metrics.refresh()
    assert org_id not in await a.metrics.refresh()
    assert b.floor(org_id) == expected(available=0, not_ready=1, logged_out=4)
    assert a.floor(org_id) == {}
    assert await redis.pttl(keys.floor_metrics_lease(org_id)) > 0
