"""Queue configuration: PostgreSQL is the record, Redis holds the copy the routing scripts read.

Changes are written to both at once, so they take effect without a restart; Python-side reads go
through a short cache that a config version bump in Redis invalidates.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from queues.model import QueueConfig
from switchboard import keys
from switchboard.redis_conn import REDIS_DOWN

FIELDS = (
    "name, channels, skills, strategy, service_level_s, offer_timeout_s, wrap_up_s, escalation, max_wait_s,"
    " last_agent_window_s"
)


# Atomic on one org's slot, so a routing script never reads half a change, on one Redis or a Cluster
# (where redis-py's MULTI pipelines are not usable from asyncio).
PUBLISH_SCRIPT = """
local config_key, queues_key, version_key = KEYS[1], KEYS[2], KEYS[3]
local name = ARGV[1]
redis.call('HSET', config_key, 'strategy', ARGV[2], 'channels', ARGV[3], 'offer_ms', ARGV[4],
           'wrap_ms', ARGV[5], 'skills', ARGV[6])
redis.call('SADD', queues_key, name)
return redis.call('INCR', version_key)
"""
DELETE_SCRIPT = """
local config_key, queues_key, version_key = KEYS[1], KEYS[2], KEYS[3]
redis.call('DEL', config_key)
redis.call('SREM', queues_key, ARGV[1])
return redis.call('INCR', version_key)
"""


def _config_keys(org_id: str, name: str) -> list[str]:
    return [keys.queue_config(org_id, name), keys.org(org_id) + "queues", keys.config_version(org_id)]


def _from_row(row: asyncpg.Record) -> QueueConfig:
    return QueueConfig(
        name=row["name"],
        channels=list(row["channels"]),
        skills=row["skills"],
        strategy=row["strategy"],
        service_level_s=row["service_level_s"],
        offer_timeout_s=row["offer_timeout_s"],
        wrap_up_s=row["wrap_up_s"],
        escalation=row["escalation"],
        max_wait_s=row["max_wait_s"],
        last_agent_window_s=row["last_agent_window_s"],
    )


async def list_queues(pool: asyncpg.Pool | asyncpg.Connection, org_id: str) -> list[QueueConfig]:
    rows = await pool.fetch(f"SELECT {FIELDS} FROM queues WHERE org_id=$1 ORDER BY name", org_id)
    return [_from_row(r) for r in rows]


async def get_queue(pool: asyncpg.Pool | asyncpg.Connection, org_id: str, name: str) -> QueueConfig | None:
    row = await pool.fetchrow(f"SELECT {FIELDS} FROM queues WHERE org_id=$1 AND name=$2", org_id, name)
    return _from_row(row) if row else None


async def save_queue(pool: asyncpg.Pool, redis: aioredis.Redis, org_id: str, q: QueueConfig) -> None:
    await pool.execute(
        "INSERT INTO queues (org_id, name, channels, skills, strategy, service_level_s, offer_timeout_s,"
        " wrap_up_s, escalation, max_wait_s, last_agent_window_s) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
        " ON CONFLICT (org_id, name) DO UPDATE SET channels=EXCLUDED.channels, skills=EXCLUDED.skills,"
        " strategy=EXCLUDED.strategy, service_level_s=EXCLUDED.service_level_s,"
        " offer_timeout_s=EXCLUDED.offer_timeout_s, wrap_up_s=EXCLUDED.wrap_up_s,"
        " escalation=EXCLUDED.escalation, max_wait_s=EXCLUDED.max_wait_s,"
        " last_agent_window_s=EXCLUDED.last_agent_window_s",
        org_id,
        q.name,
        list(q.channels),
        q.skills,
        q.strategy,
        q.service_level_s,
        q.offer_timeout_s,
        q.wrap_up_s,
        [s.model_dump(exclude_none=True) for s in q.escalation],
        q.max_wait_s,
        q.last_agent_window_s,
    )
    await publish_queue(redis, org_id, q)


async def delete_queue(pool: asyncpg.Pool, redis: aioredis.Redis, org_id: str, name: str) -> bool:
    deleted = await pool.fetchval("DELETE FROM queues WHERE org_id=$1 AND name=$2 RETURNING name", org_id, name)
    if deleted:
        await redis.register_script(DELETE_SCRIPT)(keys=_config_keys(org_id, name), args=[name])
    return bool(deleted)


async def publish_queue(redis: aioredis.Redis, org_id: str, q: QueueConfig) -> None:
    """Copy a queue's routing-relevant settings into the hash the Lua scripts read."""
    await redis.register_script(PUBLISH_SCRIPT)(
        keys=_config_keys(org_id, q.name),
        args=[
            q.name,
            q.strategy,
            json.dumps(list(q.channels)),
            q.offer_timeout_s * 1000,
            q.wrap_up_s * 1000,
            json.dumps(q.skills) if q.skills else "{}",
        ],
    )


async def publish_all(pool: asyncpg.Pool, redis: aioredis.Redis, org_id: str) -> list[QueueConfig]:
    queues = await list_queues(pool, org_id)
    for q in queues:
        await publish_queue(redis, org_id, q)
    return queues


class QueueCache:
    """Per-process cache of an org's queues, refreshed when the org's config version moves."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self._pool = pool
        self._redis = redis
        self._by_org: dict[str, tuple[str, dict[str, QueueConfig]]] = {}

    async def queues(self, org_id: str) -> dict[str, QueueConfig]:
        cached = self._by_org.get(org_id)
        try:
            version = await self._redis.get(keys.config_version(org_id)) or "0"
        except REDIS_DOWN:
            # Redis is down: PostgreSQL is the record, so intake can go on storing interactions
            return cached[1] if cached else {q.name: q for q in await list_queues(self._pool, org_id)}
        if cached and cached[0] == version:
            return cached[1]
        qs = {q.name: q for q in await list_queues(self._pool, org_id)}
        self._by_org[org_id] = (str(version), qs)
        return qs

    async def get(self, org_id: str, name: str) -> QueueConfig | None:
        return (await self.queues(org_id)).get(name)


def escalation_timers(q: QueueConfig, interaction_id: str, enqueued_ms: int) -> list[list[Any]]:
    """Timer entries (due ms, member) for a new interaction's escalation steps and max wait."""
    out: list[list[Any]] = [
        [enqueued_ms + step.after_s * 1000, f"esc|{interaction_id}|{i}|{q.name}"] for i, step in enumerate(q.escalation)
    ]
    if q.max_wait_s:
        out.append([enqueued_ms + q.max_wait_s * 1000, f"maxwait|{interaction_id}"])
    return out
