"""Revoked bearer tokens: PostgreSQL keeps the record, Redis a copy that every request checks.

A revocation is written to PostgreSQL first, then added to the Redis set. While a process trusts
its Redis copy, a check is one SISMEMBER and no PostgreSQL round trip. It stops trusting the copy
as soon as Redis fails it (a check, a revocation, or the probe each second), and checks PostgreSQL
instead until it has copied every unexpired revocation back into Redis. So a token revoked while
Redis was away is in Redis again within a probe interval of Redis answering: every process that saw
the outage resyncs before trusting Redis again, including the one that took the revocation. A
marker member in the set tells a Redis that came back without its data (it is resynced too).
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import UTC, datetime

import asyncpg
import redis.asyncio as aioredis
import structlog

from switchboard import keys
from switchboard.db import PG_DOWN
from switchboard.redis_conn import REDIS_DOWN

log = structlog.get_logger(__name__)
# In the set once it holds every unexpired revocation; never a token id (those are hex).
SYNCED = "_synced"
PROBE_S = 1.0
SYNC_BATCH = 1000

# One statement: record the revocation and prune the rows of tokens that have expired meanwhile
# (their ids are returned, to leave Redis's set too).
REVOKE_SQL = """
WITH expired AS (DELETE FROM revoked_tokens WHERE expires_at <= now() RETURNING token_id),
     added AS (INSERT INTO revoked_tokens (token_id, expires_at) VALUES ($1, $2) ON CONFLICT (token_id) DO NOTHING)
SELECT token_id FROM expired
"""


class Revocations:
    """This process's view of the revoked tokens, and whether Redis's copy can answer alone."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self.pool = pool
        self.redis = redis
        self.trusted = False  # Redis's set holds every unexpired revocation
        self._epoch = 0  # moves on every Redis failure, so a sync that overlapped one does not count

    async def is_revoked(self, token_id: str) -> bool:
        if self.trusted:
            try:
                return bool(await self.redis.sismember(keys.revoked_tokens(), token_id))
            except REDIS_DOWN as e:
                self.distrust(e)
        found = await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE token_id=$1)", token_id)
        return bool(found)

    async def revoke(self, token_id: str, expires_at: float) -> None:
        """Durable once PostgreSQL has it; Redis learns of it now, or at the next sync."""
        expired = await self.pool.fetch(REVOKE_SQL, token_id, datetime.fromtimestamp(expires_at, UTC))
        try:
            await self.redis.sadd(keys.revoked_tokens(), token_id)
            if expired:
                await self.redis.srem(keys.revoked_tokens(), *(r["token_id"] for r in expired))
        except REDIS_DOWN as e:
            self.distrust(e)

    def distrust(self, error: BaseException) -> None:
        self._epoch += 1
        if self.trusted:
            log.warning("revocations_from_postgres_redis_down", error=repr(error))
        self.trusted = False

    async def sync(self) -> int:
        """Copy every unexpired revocation into Redis; then Redis alone answers checks again."""
        epoch = self._epoch
        rows = await self.pool.fetch("SELECT token_id FROM revoked_tokens WHERE expires_at > now()")
        ids = [r["token_id"] for r in rows]
        for i in range(0, len(ids), SYNC_BATCH):
            await self.redis.sadd(keys.revoked_tokens(), *ids[i : i + SYNC_BATCH])
        await self.redis.sadd(keys.revoked_tokens(), SYNCED)
        if epoch == self._epoch:
            self.trusted = True
            log.info("revocations_synced_to_redis", tokens=len(ids))
        return len(ids)

    async def check_redis(self) -> None:
        """The probe: resync when this process distrusts Redis or Redis lost the set."""
        try:
            if not self.trusted or not await self.redis.sismember(keys.revoked_tokens(), SYNCED):
                await self.sync()
        except (*REDIS_DOWN, *PG_DOWN) as e:
            self.distrust(e)

    async def watch(self, every_s: float = PROBE_S) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.check_redis()
            except Exception:
                log.exception("revocation_probe_failed")


_BY_CLIENT: weakref.WeakKeyDictionary[aioredis.Redis, Revocations] = weakref.WeakKeyDictionary()


def revocations_for(pool: asyncpg.Pool, redis: aioredis.Redis) -> Revocations:
    """The process's Revocations for this Redis client (one per app)."""
    found = _BY_CLIENT.get(redis)
    if found is None:
        found = _BY_CLIENT[redis] = Revocations(pool, redis)
    return found
