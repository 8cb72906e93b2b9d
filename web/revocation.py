"""Revoked bearer tokens: PostgreSQL keeps the record, Redis a copy that every request checks.

Two kinds of revocation: a single token (a logout), and a user's cutoff (deactivation, a password or
role change) that refuses every token of that user issued before it. Each is written to PostgreSQL
first, then to Redis. While a process trusts its Redis copy, a check is one small script (SISMEMBER
on the revoked set, HGET on the cutoffs hash) and no PostgreSQL round trip. It stops
trusting the copy as soon as Redis fails it (a check, a revocation, or the probe each second), and
checks PostgreSQL instead until it has copied every unexpired revocation and every cutoff back into
Redis. So a token revoked while Redis was away is refused by Redis again within a probe interval of
Redis answering: every process that saw the outage resyncs before trusting Redis again, including
the one that took the revocation. Marker members in the set and the hash tell a Redis that came
back without its data (it is resynced too).
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from datetime import UTC, datetime
from typing import Literal

import asyncpg
import redis.asyncio as aioredis
import structlog

from switchboard import keys
from switchboard.db import PG_DOWN
from switchboard.redis_conn import REDIS_DOWN

log = structlog.get_logger(__name__)
# Why a user's sessions end (their cutoff), and what their screens say.
Reason = Literal["deactivated", "role_changed", "password_changed"]
MESSAGES: dict[str, str] = {
    "deactivated": "Your account was deactivated by an admin.",
    "role_changed": "Your role was changed by an admin: sign in again.",
    "password_changed": "Your password was changed: sign in again.",
    "signed_out": "This session was signed out: sign in again.",
}
# In the set and the hash once they hold every unexpired revocation; never a token or user id.
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
# A cutoff only moves forward (two changes racing, or a resync racing a change, keep the later).
CUT_OFF_SQL = "UPDATE users SET tokens_valid_after = greatest(tokens_valid_after, $2) WHERE id = $1"
# Only for a token already refused: which change refused it (a logout, else the user's cutoff).
WHY_SQL = """
SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE token_id = $1) AS signed_out,
       (SELECT active FROM users WHERE id = $2) AS active,
       (SELECT role FROM users WHERE id = $2) AS role
"""
CHECK_SQL = """
SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE token_id = $1) AS revoked,
       (SELECT tokens_valid_after FROM users WHERE id = $2) AS cutoff
"""
# The hot path: refused (1) if the token was logged out or issued before its user's cutoff, else 0.
CHECK_TOKEN = """
local revoked_set, cutoffs = KEYS[1], KEYS[2]
local token_id, user_id, issued_at = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('SISMEMBER', revoked_set, token_id) == 1 then return 1 end
local cutoff = tonumber(redis.call('HGET', cutoffs, user_id))
if cutoff and issued_at < cutoff then return 1 end
return 0
"""
# KEYS[1] the cutoffs hash; ARGV: user id, cutoff (epoch seconds), ... — kept only where it is later.
RAISE_CUTOFFS = """
local cutoffs = KEYS[1]
for i = 1, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', cutoffs, ARGV[i]))
  if not current or current < tonumber(ARGV[i + 1]) then
    redis.call('HSET', cutoffs, ARGV[i], ARGV[i + 1])
  end
end
return 1
"""


def issued_before(issued_at: float, cutoff: float | None) -> bool:
    return cutoff is not None and issued_at < cutoff


def _user_uuid(user_id: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(user_id) if user_id else None
    except ValueError:
        return None


class Revocations:
    """This process's view of the revoked tokens and cutoffs, and whether Redis's copy can answer alone."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self.pool = pool
        self.redis = redis
        self.trusted = False  # Redis holds every unexpired revocation and every cutoff
        self._epoch = 0  # moves on every Redis failure, so a sync that overlapped one does not count

    async def is_revoked(self, token_id: str, user_id: str, issued_at: float) -> bool:
        """The token was logged out, or issued before its user's cutoff."""
        if self.trusted:
            try:
                # one command, batched with others by the auto-pipelining client (two commands cost
                # about twice the client CPU of one, measured)
                found = await self.redis.register_script(CHECK_TOKEN)(
                    keys=[keys.revoked_tokens(), keys.token_cutoffs()], args=[token_id, user_id, repr(issued_at)]
                )
                return bool(found)
            except REDIS_DOWN as e:
                self.distrust(e)
        row = await self.pool.fetchrow(CHECK_SQL, token_id, _user_uuid(user_id))
        assert row is not None
        cutoff_at = row["cutoff"].timestamp() if row["cutoff"] is not None else None
        return bool(row["revoked"]) or issued_before(issued_at, cutoff_at)

    async def why(self, token_id: str, user_id: str, role: str) -> str | None:
        """Why a refused token was refused, so a screen can say what happened rather than "token
        revoked": asked of PostgreSQL only then. None when it cannot tell (or cannot be reached)."""
        try:
            row = await self.pool.fetchrow(WHY_SQL, token_id, _user_uuid(user_id))
        except PG_DOWN:
            return None
        if row is None:
            return None
        if row["signed_out"]:
            return "signed_out"
        if not row["active"]:
            return "deactivated"
        return "role_changed" if row["role"] != role else "password_changed"

    async def revoke(self, token_id: str, expires_at: float) -> None:
        """Durable once PostgreSQL has it; Redis learns of it now, or at the next sync."""
        expired = await self.pool.fetch(REVOKE_SQL, token_id, datetime.fromtimestamp(expires_at, UTC))
        try:
            await self.redis.sadd(keys.revoked_tokens(), token_id)
            if expired:
                await self.redis.srem(keys.revoked_tokens(), *(r["token_id"] for r in expired))
        except REDIS_DOWN as e:
            self.distrust(e)

    @staticmethod
    async def record_cutoff(conn: asyncpg.Connection | asyncpg.Pool, user_id: str, at: float) -> None:
        """The durable half of a cutoff, on the caller's connection so it commits with the change
        that causes it; then ``publish_cutoff``."""
        await conn.execute(CUT_OFF_SQL, uuid.UUID(user_id), datetime.fromtimestamp(at, UTC))

    async def publish_cutoff(self, user_id: str, at: float) -> None:
        """Redis learns of a recorded cutoff now, or at the next sync."""
        try:
            await self.redis.register_script(RAISE_CUTOFFS)(keys=[keys.token_cutoffs()], args=[user_id, repr(at)])
        except REDIS_DOWN as e:
            self.distrust(e)

    async def cut_off(self, user_id: str, at: float) -> None:
        """Refuse every token of this user issued before ``at`` (epoch seconds)."""
        await self.record_cutoff(self.pool, user_id, at)
        await self.publish_cutoff(user_id, at)

    def distrust(self, error: BaseException) -> None:
        self._epoch += 1
        if self.trusted:
            log.warning("revocations_from_postgres_redis_down", error=repr(error))
        self.trusted = False

    async def sync(self) -> int:
        """Copy every unexpired revocation and every cutoff into Redis; then Redis alone answers checks again."""
        epoch = self._epoch
        rows = await self.pool.fetch("SELECT token_id FROM revoked_tokens WHERE expires_at > now()")
        ids = [r["token_id"] for r in rows]
        for i in range(0, len(ids), SYNC_BATCH):
            await self.redis.sadd(keys.revoked_tokens(), *ids[i : i + SYNC_BATCH])
        cuts = await self.pool.fetch(
            "SELECT id::text AS user_id, tokens_valid_after FROM users WHERE tokens_valid_after IS NOT NULL"
        )
        pairs = [v for r in cuts for v in (r["user_id"], repr(r["tokens_valid_after"].timestamp()))]
        raise_cutoffs = self.redis.register_script(RAISE_CUTOFFS)
        for i in range(0, len(pairs), 2 * SYNC_BATCH):
            await raise_cutoffs(keys=[keys.token_cutoffs()], args=pairs[i : i + 2 * SYNC_BATCH])
        await self.redis.hset(keys.token_cutoffs(), SYNCED, "1")
        await self.redis.sadd(keys.revoked_tokens(), SYNCED)
        if epoch == self._epoch:
            self.trusted = True
            log.info("revocations_synced_to_redis", tokens=len(ids), cutoffs=len(cuts))
        return len(ids)

    async def _redis_has_both(self) -> bool:
        in_set, in_hash = await asyncio.gather(
            self.redis.sismember(keys.revoked_tokens(), SYNCED), self.redis.hexists(keys.token_cutoffs(), SYNCED)
        )
        return bool(in_set) and bool(in_hash)

    async def check_redis(self) -> None:
        """The probe: resync when this process distrusts Redis or Redis lost the set or the hash."""
        try:
            if not self.trusted or not await self._redis_has_both():
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
