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
from routing.spool import MAX_ENTRIES, Spool, SpoolKeys
from switchboard import jsonwire, keys
from switchboard.db import PG_DOWN

log = structlog.get_logger(__name__)
INBOUND_SPOOLED = Counter(
    "switchboard_inbound_spooled_total", "Channel webhooks kept in Redis while PostgreSQL was down, by outcome",
    ["outcome"],
)
WEBHOOKS = SpoolKeys(keys.inbound_spool, keys.inbound_spool_refused, keys.inbound_spooled_orgs())
Handler = Callable[[str, WebhookBatch], Awaitable[Any]]


class InboundSpool(Spool):
    def __init__(self, redis: aioredis.Redis, max_entries: int = MAX_ENTRIES) -> None:
        super().__init__(redis, WEBHOOKS, max_entries)

    async def push(self, org_id: str, channel: str, batch: WebhookBatch) -> bool:
        """Kept (True), or not: the org's spool is full. Raises RedisError when Redis is down too."""
        entry = jsonwire.dumps({"id": uuid.uuid4().hex, "channel": channel, "batch": batch.model_dump(mode="json")})
        if not await self._append(org_id, entry):
            INBOUND_SPOOLED.labels("dropped").inc()
            log.error("inbound_spool_full", org_id=org_id, channel=channel, max_entries=self.max_entries)
            return False
        INBOUND_SPOOLED.labels("spooled").inc()
        return True

    async def drain(self, org_id: str, handle: Handler) -> int:
        """Process the org's spooled webhooks, oldest first; returns how many. PostgreSQL failing
        again stops it (what was processed is deduplicated next time); an entry that fails as data
        is set aside in the org's refused hash, so it cannot hold back the others."""
        done = 0
        while raw := await self._head(org_id):
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
                    await self._set_aside(org_id, one)
            await self._drop(org_id, raw)
        if done:
            INBOUND_SPOOLED.labels("processed").inc(done)
            log.info("inbound_spool_processed", org_id=org_id, webhooks=done)
        await self._drained(org_id)
        return done
