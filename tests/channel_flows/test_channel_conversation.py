"""SMS conversations end to end: offer, reply through the outbox to a fake Twilio, outages, threading,
delivery receipts on the agent desktop, acknowledgements and business hours."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from channel_flow_fixtures import (
    FakeProvider,
    configure,
    fast_retries,
    post_meta,
    post_sms,
    running_provider,
    sms_params,
    whatsapp_payload,
)
from harness import postgres_unreachable

from channels.config import QueueHours, upsert_queue_hours
from web.context import CTX


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    async with running_provider() as fake:
        yield fake


@pytest.fixture
def fast(server):  # type: ignore[no-untyped-def]
    with fast_retries(server):
        yield


CUSTOMER = "+14155550123"


async def connected_sms(http, org, agents, provider, text="hi, I need a quote", sid="SM1001"):  # type: ignore[no-untyped-def]
    agent = await agents("agent1")
    await agent.wait("session")
    agent.sio.on("message:status", agent._recorder("message:status"), namespace="/agent")
    await configure(http, org, "sms", provider.base_url)
    status, _ = await post_sms(http, org, sms_params(CUSTOMER, text, sid))
    assert status == 200
    offer = await agent.wait("offer")
    assert offer["interaction"]["channel"] == "sms"
    ack = await agent.call("offer:accept", {"offer_id": offer["offer_id"]})
    assert ack["ok"], ack
    await agent.wait("interaction:connected")
    return agent, offer["interaction"]["id"]


async def test_agent_reply_reaches_the_provider_and_status_reaches_the_desktop(http, org, agents, provider, pool, fast):
    agent, iid = await connected_sms(http, org, agents, provider)
    ack = await agent.call("message:send", {"interaction_id": iid, "text": "Sure, 3 units?"})
    assert ack["ok"], ack
    await provider.wait_for(lambda: len(provider.sends()) == 1)
    [send] = provider.sends()
    form = send.form()
    assert (form["To"], form["From"], form["Body"]) == (CUSTOMER, "+14155550000", "Sure, 3 units?")
    assert send.headers["Authorization"].startswith("Basic ")
    sent = await agent.wait("message:status")
    assert sent == {"interaction_id": iid, "message_id": ack["message_id"], "status": "sent"}
    sid = await pool.fetchval("SELECT provider_id FROM messages WHERE id=$1", ack["message_id"])
    assert sid.startswith("SMfake")
    # Twilio then reports delivery on the status callback URL.
    status, _ = await post_sms(
        http, org, {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "ACfake"}, path="/status"
    )
    assert status == 200
    delivered = await agent.wait("message:status")
    assert delivered["status"] == "delivered" and delivered["message_id"] == ack["message_id"]
    assert await pool.fetchval("SELECT status FROM messages WHERE id=$1", ack["message_id"]) == "delivered"


async def test_reply_during_provider_outage_is_delivered_once_after_it_returns(http, org, agents, provider, pool, fast):
    agent, iid = await connected_sms(http, org, agents, provider, sid="SM1002")
    provider.down = True
    ack = await agent.call("message:send", {"interaction_id": iid, "text": "Checking stock"})
    assert ack["ok"], ack
    await provider.wait_for(lambda: len(provider.hits) >= 2)
    assert provider.sends() == []
    row = await pool.fetchrow(
        "SELECT status, attempts, last_status_code FROM outbox WHERE message_id=$1", ack["message_id"]
    )
    assert row["status"] == "pending" and row["last_status_code"] == 503
    provider.down = False
    await provider.wait_for(lambda: len(provider.sends()) == 1)
    await asyncio.sleep(1.0)  # time for a duplicate to show up, if the worker were to send one
    assert [s.form()["Body"] for s in provider.sends()] == ["Checking stock"]
    keys = {h.headers["Idempotency-Key"] for h in provider.hits}
    assert len(keys) == 1
    row = await pool.fetchrow("SELECT status FROM outbox WHERE message_id=$1", ack["message_id"])
    assert row["status"] == "sent"


async def test_a_reply_sent_while_postgres_is_unreachable_reaches_the_provider_once_stored(
    http, org, agents, provider, pool, server, fast
):
    """The reply waits in the report spool (its send needs the stored row), and the replay stores it
    and queues it for the provider: not sent before, sent once after."""
    agent, iid = await connected_sms(http, org, agents, provider, sid="SM1010")
    ctx = server.app[CTX]
    async with postgres_unreachable(ctx):
        ack = await agent.call("message:send", {"interaction_id": iid, "text": "Stock arrives Friday"})
    assert ack["ok"] and ack["message_id"] is None, ack
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE interaction_id=$1 AND sender='agent'",
                               uuid.UUID(iid)) == 0
    assert provider.sends() == []
    await ctx.router.recorder.replay_spooled(org.id)  # or the reconciler's tick got there first
    await provider.wait_for(lambda: len(provider.sends()) == 1)
    assert provider.sends()[0].form()["Body"] == "Stock arrives Friday"
    stored = await pool.fetchval("SELECT id FROM messages WHERE interaction_id=$1 AND sender='agent'", uuid.UUID(iid))
    sent = await agent.wait("message:status")
    assert sent == {"interaction_id": iid, "message_id": stored, "status": "sent"}, sent
    await asyncio.sleep(0.5)  # a second replay or a duplicate send would show here
    await ctx.router.recorder.replay_spooled(org.id)
    assert len(provider.sends()) == 1


async def test_a_reply_neither_store_can_keep_is_refused_not_claimed_sent(http, org, agents, provider, server):
    agent, iid = await connected_sms(http, org, agents, provider, sid="SM1011")
    ctx = server.app[CTX]
    spool = ctx.router.recorder.spool
    async with postgres_unreachable(ctx):
        spool.max_entries, cap = 0, spool.max_entries  # the org's spool is full
        try:
            ack = await agent.call("message:send", {"interaction_id": iid, "text": "Lost?"})
        finally:
            spool.max_entries = cap
    assert not ack["ok"] and ack["error"]["code"] == "service_unavailable", ack


async def test_second_sms_from_the_same_number_joins_the_open_conversation(http, org, agents, provider, pool):
    agent, iid = await connected_sms(http, org, agents, provider, sid="SM1003")
    status, _ = await post_sms(http, org, sms_params(CUSTOMER, "and delivery to Leeds?", "SM1004"))
    assert status == 200
    msg = await agent.wait("message")
    assert msg["interaction_id"] == iid and msg["text"] == "and delivery to Leeds?" and msg["from"] == "customer"
    rows = await pool.fetch("SELECT id FROM interactions WHERE org_id=$1", org.id)
    assert [str(r["id"]) for r in rows] == [iid]
    texts = [
        r["text"] for r in await pool.fetch("SELECT text FROM messages WHERE interaction_id=$1::uuid ORDER BY id", iid)
    ]
    assert texts == ["hi, I need a quote", "and delivery to Leeds?"]
    assert agent.received("offer") and len(agent.received("offer")) == 1


async def test_new_sms_is_acknowledged_with_queue_position(http, org, provider, pool, fast):
    await configure(
        http,
        org,
        "sms",
        provider.base_url,
        ack_template="Thanks! You are number {position} in line, wait about {wait}.",
    )
    status, _ = await post_sms(http, org, sms_params(CUSTOMER, "anyone there?", "SM1005"))
    assert status == 200
    await provider.wait_for(lambda: len(provider.sends()) == 1)
    body = provider.sends()[0].form()["Body"]
    assert body.startswith("Thanks! You are number 1 in line, wait about ")
    system = await pool.fetchval("SELECT text FROM messages WHERE org_id=$1 AND sender='system'", org.id)
    assert system == body


async def test_closed_queue_replies_with_opening_time_and_closes_when_configured(http, org, provider, pool, fast):
    never_open = QueueHours(timezone="Europe/London", weekly={}, closed_action="close")
    await upsert_queue_hours(pool, org.id, "sales", never_open)
    await configure(http, org, "sms", provider.base_url, closed_template="Closed now, back {opens_at}.")
    status, _ = await post_sms(http, org, sms_params(CUSTOMER, "late night question", "SM1006"))
    assert status == 200
    row = await pool.fetchrow("SELECT state, end_reason FROM interactions WHERE org_id=$1", org.id)
    assert (row["state"], row["end_reason"]) == ("abandoned", "closed")
    await provider.wait_for(lambda: len(provider.sends()) == 1)
    assert provider.sends()[0].form()["Body"] == "Closed now, back later."


async def test_closed_queue_holds_the_interaction_when_configured(http, org, provider, pool, fast):
    await upsert_queue_hours(pool, org.id, "sales", QueueHours(weekly={}, closed_action="hold"))
    await configure(http, org, "sms", provider.base_url)
    assert (await post_sms(http, org, sms_params(CUSTOMER, "hello?", "SM1007")))[0] == 200
    state = await pool.fetchval("SELECT state FROM interactions WHERE org_id=$1", org.id)
    assert state == "queued"
    await provider.wait_for(lambda: len(provider.sends()) == 1)
    assert "closed" in provider.sends()[0].form()["Body"]


async def test_whatsapp_reply_goes_to_the_cloud_api_and_read_receipt_reaches_the_desktop(
    http, org, agents, provider, pool, fast
):
    agent = await agents("agent1")
    await agent.wait("session")
    agent.sio.on("message:status", agent._recorder("message:status"), namespace="/agent")
    await configure(http, org, "whatsapp", provider.base_url)
    status, _ = await post_meta(http, org, "whatsapp", whatsapp_payload(CUSTOMER, "hola", "wamid.IN1"))
    assert status == 200
    offer = await agent.wait("offer")
    assert (await agent.call("offer:accept", {"offer_id": offer["offer_id"]}))["ok"]
    iid = offer["interaction"]["id"]
    ack = await agent.call("message:send", {"interaction_id": iid, "text": "Hola!"})
    assert ack["ok"], ack
    await provider.wait_for(lambda: len(provider.sends("/1055/messages")) == 1)
    sent = provider.sends("/1055/messages")[0].json()
    assert (sent["to"], sent["text"]["body"]) == (CUSTOMER.lstrip("+"), "Hola!")
    assert (await agent.wait("message:status"))["status"] == "sent"
    wamid = await pool.fetchval("SELECT provider_id FROM messages WHERE id=$1", ack["message_id"])
    receipt = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "statuses": [
                                {"id": wamid, "status": "read", "timestamp": "1", "recipient_id": CUSTOMER.lstrip("+")}
                            ],
                        },
                    }
                ],
            }
        ],
    }
    status, body = await post_meta(http, org, "whatsapp", receipt)
    assert status == 200 and body["statuses_applied"] == 1
    read = await agent.wait("message:status")
    assert read == {"interaction_id": iid, "message_id": ack["message_id"], "status": "read"}
