"""Routing reports that missed PostgreSQL wait in Redis, and are written once it is back.

While PostgreSQL is down, routing goes on in Redis. The reports of what it did (offers and their
decision logs, connects, ends, wrap-up codes, and the integrator events they cause) go to the org's
spool list instead of being lost, and the next reconcile tick on any node replays them in order
through the recorder's own writer and hooks. Each entry carries an id that the replaying
transaction records (``report_spool_applied``), so an entry replayed twice — by two nodes, or by a
replay cut off before its entries left Redis — is applied once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import structlog

from queues.store import RecordedReport
from routing.metrics import REPORTS_SPOOLED
from switchboard import jsonwire, keys
from switchboard.db import PG_DOWN

log = structlog.get_logger(__name__)
# Per org. An outage long enough to fill it at full load loses the oldest reports' history; the
# reconciler still records how those interactions ended.
MAX_ENTRIES = 100_000
DRAIN_BATCH = 100

# Append the entries unless the list would grow past its cap; the new length, or -1 when full.
PUSH = r"""
local spool_key = KEYS[1]
local cap = tonumber(ARGV[1])
if redis.call('LLEN', spool_key) + #ARGV - 1 > cap then return -1 end
return redis.call('RPUSH', spool_key, unpack(ARGV, 2))
"""

# Drop the first N entries only while they are still the ones the caller replayed: another node may
# have replayed and dropped them already, and entries only ever leave from the head.
TRIM = r"""
local spool_key = KEYS[1]
local n = tonumber(ARGV[1])
local first = ARGV[2]
local last = ARGV[3]
if redis.call('LINDEX', spool_key, 0) ~= first or redis.call('LINDEX', spool_key, n - 1) ~= last then
  return 0
end
redis.call('LTRIM', spool_key, n, -1)
return n
"""

Writer = Callable[[asyncpg.Connection, list[RecordedReport]], Awaitable[None]]


def entry_id(raw: str) -> str:
    try:
        return str(jsonwire.loads(raw)["id"])
    except (ValueError, TypeError, KeyError):  # not even an entry: name it by its content
        return "sha1:" + hashlib.sha1(raw.encode()).hexdigest()


@dataclass(frozen=True)
class SpoolKeys:
    """Where one kind of spool lives: each org's list, each org's refused hash, and the set of orgs
    the reconcilers drain."""

    spool: Callable[[str], str]
    refused: Callable[[str], str]
    orgs: str


REPORTS = SpoolKeys(keys.report_spool, keys.report_spool_refused, keys.spooled_orgs())


async def waiting(redis: aioredis.Redis, where: SpoolKeys) -> int:
    """Entries waiting in one kind of spool, over every org that has some (a handful, at most)."""
    return sum([int(await redis.llen(where.spool(org_id))) for org_id in await redis.smembers(where.orgs)])


class Spool:
    """A per-org list of entries waiting in Redis for PostgreSQL: capped appends, reads from the head,
    a trim that removes only what was read, refused entries set aside, and the set of orgs to drain.
    What an entry is and how it is written is the subclass's."""

    def __init__(self, redis: aioredis.Redis, where: SpoolKeys, max_entries: int = MAX_ENTRIES) -> None:
        self.redis = redis
        self.where = where
        self.max_entries = max_entries
        self._push = redis.register_script(PUSH)
        self._trim = redis.register_script(TRIM)

    async def _append(self, org_id: str, entry: str) -> bool:
        """Kept (True), or not: the org's spool is full. Raises RedisError when Redis is down."""
        if await self._push(keys=[self.where.spool(org_id)], args=[self.max_entries, entry]) == -1:
            return False
        # after the push: a drainer that removes the org from the set looks at the list once more
        await self.redis.sadd(self.where.orgs, org_id)
        return True

    async def spooled_orgs(self) -> list[str]:
        return sorted(await self.redis.smembers(self.where.orgs))

    async def _head(self, org_id: str) -> list[Any]:
        return list(await self.redis.lrange(self.where.spool(org_id), 0, DRAIN_BATCH - 1))

    async def _drop(self, org_id: str, raw: list[Any]) -> None:
        """Remove the entries just read, if they are still the head (another node may have)."""
        await self._trim(keys=[self.where.spool(org_id)], args=[len(raw), raw[0], raw[-1]])

    async def _set_aside(self, org_id: str, raw: str) -> None:
        """An entry that failed as data (not an outage), kept for a person to look at, by entry id: a
        node draining the same entries at once sets the same field."""
        await self.redis.hset(self.where.refused(org_id), entry_id(raw), raw)

    async def _drained(self, org_id: str) -> None:
        """Done with the org's spool, unless an entry was pushed since the last read: then the next
        tick comes back for it (the pusher adds the org after pushing, so one of the two sees it)."""
        await self.redis.srem(self.where.orgs, org_id)
        if await self.redis.llen(self.where.spool(org_id)):
            await self.redis.sadd(self.where.orgs, org_id)


class ReportSpool(Spool):
    def __init__(self, redis: aioredis.Redis, max_entries: int = MAX_ENTRIES) -> None:
        super().__init__(redis, REPORTS, max_entries)

    async def push(self, reports: list[RecordedReport]) -> int:
        """One entry per org; returns how many reports did not fit (their org's spool is full).
        Raises RedisError when Redis is down too (the caller counts the loss)."""
        refused = 0
        by_org: dict[str, list[tuple[dict[str, Any], int]]] = {}
        for org_id, report, now_ms in reports:
            by_org.setdefault(org_id, []).append((report, now_ms))
        for org_id, mine in by_org.items():
            if not await self._append(org_id, jsonwire.dumps({"id": uuid.uuid4().hex, "reports": mine})):
                REPORTS_SPOOLED.labels("dropped").inc(len(mine))
                log.error("report_spool_full", org_id=org_id, reports=len(mine), max_entries=self.max_entries)
                refused += len(mine)
                continue
            REPORTS_SPOOLED.labels("spooled").inc(len(mine))
        return refused

    async def drain(self, pool: asyncpg.Pool, org_id: str, write: Writer) -> int:
        """Replay the org's spooled reports, oldest first, each entry once; returns reports applied.

        An entry PostgreSQL refuses (not an outage: the data itself) is set aside in the org's
        dead-letter hash, so one bad entry cannot hold back the others or the reconciler."""
        applied = 0
        while raw := await self._head(org_id):
            try:
                applied += await self._apply(pool, org_id, raw, write)
            except PG_DOWN:
                raise
            except Exception:  # one of them is refused: find it, apply the rest
                for one in raw:
                    try:
                        applied += await self._apply(pool, org_id, [one], write)
                    except PG_DOWN:
                        raise
                    except Exception:
                        log.exception("report_spool_entry_refused", org_id=org_id)
                        REPORTS_SPOOLED.labels("refused").inc()
                        await self._set_aside(org_id, one)
            await self._drop(org_id, raw)
        if applied:
            REPORTS_SPOOLED.labels("replayed").inc(applied)
            log.info("report_spool_replayed", org_id=org_id, reports=applied)
            # ids matter only until their entries have left Redis, which the trim above just did
            await pool.execute("DELETE FROM report_spool_applied WHERE applied_at < now() - interval '1 day'")
        await self._drained(org_id)
        return applied

    async def _apply(self, pool: asyncpg.Pool, org_id: str, raw: list[Any], write: Writer) -> int:
        """Write the entries not applied before, in one transaction with their ids; returns reports written."""
        entries = [jsonwire.loads(r) for r in raw]
        async with pool.acquire() as conn, conn.transaction():
            fresh = {
                r["id"]
                for r in await conn.fetch(
                    "INSERT INTO report_spool_applied (id) SELECT unnest($1::text[])"
                    " ON CONFLICT DO NOTHING RETURNING id",
                    [e["id"] for e in entries],
                )
            }
            reports = [
                (org_id, report, now_ms) for e in entries if e["id"] in fresh for report, now_ms in e["reports"]
            ]
            if reports:
                await write(conn, reports)
        return len(reports)
