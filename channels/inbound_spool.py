"""Verified channel webhooks that PostgreSQL could not take wait in Redis, and are processed once it
is back.

Not every provider retries for long: Twilio retries an inbound SMS webhook once, within 15 s, so a
longer outage would lose what customers wrote. A webhook whose signature checks (against the channel
settings this process last read) is kept in the org's inbound spool and answered as accepted; the
next reconcile tick on any node processes it like a live one once PostgreSQL answers. Processing is
idempotent per provider message id (``inbound_receipts``), so an entry processed twice (by two
nodes, or by one stopped before its trim) stores its messages once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
import structlog
from prometheus_client import Counter

from channels.model import WebhookBatch
from routing.spool import PUSH, TRIM, leave_drain_set, set_aside
from switchboard import jsonwire, keys
from switchboard.db import PG_DOWN

log = structlog.get_logger(__name__)
MAX_ENTRIES = 100_000  # per org
DRAIN_BATCH = 100
INBOUND_SPOOLED = Counter(
    "switchboard_inbound_spooled_total", "Channel webhooks kept in Redis while PostgreSQL was down, by outcome",
    ["outcome"],
)
Handler = Callable[[str, WebhookBatch], Awaitable[Any]]


class InboundSpool:
    def __init__(self, redis: aioredis.Redis, max_entries: int = MAX_ENTRIES) -> None:
        self.redis = redis
        self.max_entries = max_entries
        self._push = redis.register_script(PUSH)
        self._trim = redis.register_script(TRIM)

    async def push(self, org_id: str, channel: str, batch: WebhookBatch) -> bool:
        """Kept (True), or not: the org's spool is full. Raises RedisError when Redis is down too."""
        entry = jsonwire.dumps({"id": uuid.uuid4().hex, "channel": channel, "batch": batch.model_dump(mode="json")})
        if await self._push(keys=[keys.inbound_spool(org_id)], args=[self.max_entries, entry]) == -1:
            INBOUND_SPOOLED.labels("dropped").inc()
            log.error("inbound_spool_full", org_id=org_id, channel=channel, max_entries=self.max_entries)
            return False
        await self.redis.sadd(keys.inbound_spooled_orgs(), org_id)
        INBOUND_SPOOLED.labels("spooled").inc()
        return True

    async def spooled_orgs(self) -> list[str]:
        return sorted(await self.redis.smembers(keys.inbound_spooled_orgs()))

    async def drain(self, org_id: str, handle: Handler) -> int:
        """Process the org's spooled webhooks, oldest first; returns how many. PostgreSQL failing
        again stops it (what was processed is deduplicated next time); an entry that fails as data
        is set aside in the org's refused hash, so it cannot hold back the others."""
        spool_key = keys.inbound_spool(org_id)
        done = 0
        while raw := await self.redis.lrange(spool_key, 0, DRAIN_BATCH - 1):
            for one in raw:
                try:
                    entry = jsonwire.loads(one)
                    await handle(entry["channel"], WebhookBatch.model_validate(entry["batch"]))
                    done += 1
                except PG_DOWN:
                    raise
                except Exception:
                    log.exception("inbound_spool_entry_refused", org_id=org_id)
                    INBOUND_SPOOLED.labels("refused").inc()
                    await set_aside(self.redis, keys.inbound_spool_refused(org_id), one)
            await self._trim(keys=[spool_key], args=[len(raw), raw[0], raw[-1]])
        if done:
            INBOUND_SPOOLED.labels("processed").inc(done)
            log.info("inbound_spool_processed", org_id=org_id, webhooks=done)
        await leave_drain_set(self.redis, keys.inbound_spooled_orgs(), spool_key, org_id)
        return done
