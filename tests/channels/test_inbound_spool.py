"""The inbound spool keeps verified webhooks in order and hands each to processing; one that fails
as data is set aside without holding back the rest, and PostgreSQL failing again stops the drain
with the unprocessed entries still there."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from channels.inbound_spool import WEBHOOKS, InboundSpool
from channels.model import InboundMessage, WebhookBatch
from routing.spool import waiting
from switchboard import keys


@pytest.fixture
def redis(quiet_redis: aioredis.Redis) -> aioredis.Redis:
    return quiet_redis


def batch(text: str) -> WebhookBatch:
    msg = InboundMessage(channel="sms", identity_type="phone", identity_value="+14155550100", text=text,
                         provider_message_id=f"SM-{text}", received_at=1_790_000_000.0)
    return WebhookBatch(messages=[msg])


async def test_entries_are_processed_in_order_and_a_bad_one_is_set_aside(redis, org_id):
    spool = InboundSpool(redis)
    for text in ("one", "two", "three"):
        assert await spool.push(org_id, "sms", batch(text))
    assert org_id in await spool.spooled_orgs()
    assert await waiting(redis, WEBHOOKS) == 3  # the backlog gauge's figure
    seen: list[str] = []

    async def handle(channel: str, b: WebhookBatch) -> None:
        if b.messages[0].text == "two":
            raise ValueError("refused as data")
        seen.append(f"{channel}:{b.messages[0].text}")

    assert await spool.drain(org_id, handle) == 2
    assert seen == ["sms:one", "sms:three"]
    refused = await redis.hvals(keys.inbound_spool_refused(org_id))
    assert len(refused) == 1 and '"two"' in refused[0]
    assert await redis.llen(keys.inbound_spool(org_id)) == 0
    assert org_id not in await spool.spooled_orgs()
    assert await waiting(redis, WEBHOOKS) == 0


async def test_an_outage_during_the_drain_leaves_the_entries_for_the_next_tick(redis, org_id):
    spool = InboundSpool(redis)
    for text in ("one", "two"):
        await spool.push(org_id, "sms", batch(text))

    async def down(channel: str, b: WebhookBatch) -> None:
        raise ConnectionRefusedError("PostgreSQL is not answering")

    with pytest.raises(ConnectionRefusedError):
        await spool.drain(org_id, down)
    assert await redis.llen(keys.inbound_spool(org_id)) == 2
    assert org_id in await spool.spooled_orgs()


async def test_a_full_spool_refuses_rather_than_drop_silently(redis, org_id):
    spool = InboundSpool(redis, max_entries=1)
    assert await spool.push(org_id, "sms", batch("kept"))
    assert not await spool.push(org_id, "sms", batch("no room"))
    assert await redis.llen(keys.inbound_spool(org_id)) == 1
