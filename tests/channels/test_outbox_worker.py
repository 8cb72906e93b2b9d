"""Outbox: replies commit with their message, reach the provider at least once, retry, and die."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from datetime import UTC, datetime
from urllib.parse import parse_qs

import aiohttp
import asyncpg
import pytest
from channel_fixtures import FakeProvider, add_message, configure, make_interaction, make_org

from channels import email
from channels.outbox import OutboxWorker, backoff_delay, enqueue_interaction_reply, enqueue_reply
from channels.senders import Reply
from switchboard.clock import FrozenClock

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def sms_reply(pool: asyncpg.Pool, org_id: str, clock: FrozenClock, text: str = "On its way!") -> int:
    """An agent reply written the way the web layer will: message row and outbox row in one transaction."""
    interaction = await make_interaction(pool, org_id, "sms", "phone", "+14155550199")
    async with pool.acquire() as conn, conn.transaction():
        message_id = await add_message(conn, org_id, interaction, "agent", text)
        await enqueue_reply(
            conn,
            org_id=org_id,
            channel="sms",
            reply=Reply(to="+14155550199", text=text),
            now=clock.now(),
            message_id=message_id,
        )
    return message_id


async def outbox_row(pool: asyncpg.Pool, org_id: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM outbox WHERE org_id = $1", org_id)
    assert row is not None
    return row


def worker(pool: asyncpg.Pool, http: aiohttp.ClientSession, clock: FrozenClock, **kw: object) -> OutboxWorker:
    return OutboxWorker(pool, http, clock, rng=random.Random(7), **kw)  # type: ignore[arg-type]


async def test_reply_is_delivered_and_message_marked_sent(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, "sms", fake_provider.base_url)
    clock = FrozenClock(START)
    message_id = await sms_reply(pool, org_id, clock)

    assert await worker(pool, http, clock).run_once() == 1

    [call] = fake_provider.calls
    row = await outbox_row(pool, org_id)
    assert call.path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert parse_qs(call.body.decode()) == {
        "To": ["+14155550199"],
        "From": ["+14155550100"],
        "Body": ["On its way!"],
    }
    assert call.headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:tw-token").decode()
    assert call.headers["Idempotency-Key"] == f"outbox-{row['id']}"
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("sent", 1, 201)
    assert row["provider_message_id"].startswith("SM")
    msg = await pool.fetchrow("SELECT provider_id, status FROM messages WHERE id = $1", message_id)
    assert (msg["provider_id"], msg["status"]) == (row["provider_message_id"], "sent")
    assert await worker(pool, http, clock).run_once() == 0


async def test_rolled_back_reply_is_never_sent(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, "sms", fake_provider.base_url)
    clock = FrozenClock(START)
    interaction = await make_interaction(pool, org_id, "sms", "phone", "+14155550199")
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            message_id = await add_message(conn, org_id, interaction, "agent", "hi")
            reply = Reply(to="+14155550199", text="hi")
            await enqueue_reply(
                conn, org_id=org_id, channel="sms", reply=reply, now=clock.now(), message_id=message_id
            )
            raise RuntimeError("handler failed after writing")
    assert await worker(pool, http, clock).run_once() == 0
    assert fake_provider.calls == []


async def test_provider_outage_is_retried_with_backoff_then_delivered_once(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, "sms", fake_provider.base_url)
    clock = FrozenClock(START)
    await sms_reply(pool, org_id, clock)
    w = worker(pool, http, clock, base_delay_s=2.0)
    fake_provider.down = True

    delays = []
    for attempt in (1, 2, 3):
        assert await w.run_once() == 1
        row = await outbox_row(pool, org_id)
        delay = row["next_attempt_at"].timestamp() - clock.now()
        assert (row["status"], row["attempts"]) == ("pending", attempt)
        assert row["last_status_code"] == 503 and "down" in row["last_error"]
        assert 2.0 * 2 ** (attempt - 1) / 2 <= delay <= 2.0 * 2 ** (attempt - 1)
        delays.append(delay)
        assert await w.run_once() == 0, "not due again before its backoff"
        clock.advance(delay)
    assert delays[0] < delays[1] < delays[2]

    fake_provider.down = False
    assert await w.run_once() == 1
    row = await outbox_row(pool, org_id)
    assert (row["status"], row["attempts"]) == ("sent", 4)
    assert len(fake_provider.calls) == 4
    assert len(fake_provider.deliveries) == 1
    assert {c.headers["Idempotency-Key"] for c in fake_provider.calls} == {f"outbox-{row['id']}"}


async def test_lost_response_is_deduplicated_by_idempotency_key(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, "sms", fake_provider.base_url)
    clock = FrozenClock(START)
    message_id = await sms_reply(pool, org_id, clock)
    w = worker(pool, http, clock)
    fake_provider.lose_next = 1

    assert await w.run_once() == 1
    assert (await outbox_row(pool, org_id))["status"] == "pending"
    clock.advance(60)
    assert await w.run_once() == 1

    assert len(fake_provider.calls) == 2
    assert len(fake_provider.deliveries) == 1
    [accepted] = fake_provider.accepted.values()
    provider_id = await pool.fetchval("SELECT provider_id FROM messages WHERE id = $1", message_id)
    assert provider_id == accepted["sid"]


async def test_gives_up_as_dead_after_max_attempts(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, "sms", fake_provider.base_url)
    clock = FrozenClock(START)
    message_id = await sms_reply(pool, org_id, clock)
    w = worker(pool, http, clock, max_attempts=3, max_delay_s=10.0)
    fake_provider.fail_next = 100

    for _ in range(5):
        await w.run_once()
        clock.advance(10)
    row = await outbox_row(pool, org_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("dead", 3, 500)
    assert len(fake_provider.calls) == 3
    assert await pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id) == "failed"


async def test_provider_refusal_fails_without_retry(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, "sms", fake_provider.base_url)
    clock = FrozenClock(START)
    message_id = await sms_reply(pool, org_id, clock)
    fake_provider.reject = True
    assert await worker(pool, http, clock).run_once() == 1
    row = await outbox_row(pool, org_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("failed", 1, 400)
    assert await pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id) == "failed"


async def test_unconfigured_channel_fails_the_reply(
    pool: asyncpg.Pool, org_id: str, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    clock = FrozenClock(START)
    await sms_reply(pool, org_id, clock)
    assert await worker(pool, http, clock).run_once() == 1
    row = await outbox_row(pool, org_id)
    assert (row["status"], row["last_error"]) == ("failed", "channel_not_configured")


async def test_network_error_is_retried(pool: asyncpg.Pool, org_id: str, http: aiohttp.ClientSession) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, "sms", "http://127.0.0.1:9")  # discard port: connection refused
    clock = FrozenClock(START)
    await sms_reply(pool, org_id, clock)
    assert await worker(pool, http, clock).run_once() == 1
    row = await outbox_row(pool, org_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_status_code"] is None and "Connect" in row["last_error"]


async def test_concurrent_workers_claim_each_row_once(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, "sms", fake_provider.base_url)
    clock = FrozenClock(START)
    for i in range(20):
        await sms_reply(pool, org_id, clock, text=f"reply {i}")
    workers = [worker(pool, http, clock) for _ in range(4)]
    counts = await asyncio.gather(*(w.run_once(limit=20) for w in workers))
    assert sum(counts) == 20
    keys = [c.headers["Idempotency-Key"] for c in fake_provider.calls]
    assert len(keys) == len(set(keys)) == 20
    statuses = await pool.fetch("SELECT status FROM outbox WHERE org_id = $1", org_id)
    assert {r["status"] for r in statuses} == {"sent"}


@pytest.mark.parametrize(
    ("channel", "identity_type", "to", "path"),
    [
        ("whatsapp", "whatsapp", "+16505551234", "/v21.0/106540352242922/messages"),
        ("messenger", "messenger", "6783456789012345", "/v21.0/me/messages"),
    ],
)
async def test_meta_replies_reach_the_graph_api(
    pool: asyncpg.Pool,
    org_id: str,
    fake_provider: FakeProvider,
    http: aiohttp.ClientSession,
    channel: str,
    identity_type: str,
    to: str,
    path: str,
) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, channel, fake_provider.base_url)
    clock = FrozenClock(START)
    interaction = await make_interaction(pool, org_id, channel, identity_type, to)
    async with pool.acquire() as conn, conn.transaction():
        message_id = await add_message(conn, org_id, interaction, "agent", "Hello there")
        await enqueue_interaction_reply(
            conn,
            org_id=org_id,
            interaction_id=interaction,
            message_id=message_id,
            text="Hello there",
            now=clock.now(),
        )
    assert await worker(pool, http, clock).run_once() == 1
    [call] = fake_provider.calls
    sent = json.loads(call.body)
    assert call.path == path
    assert call.headers["Authorization"] == "Bearer graph-token"
    if channel == "whatsapp":
        assert sent == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "text",
            "text": {"body": "Hello there"},
        }
        expected_id = "wamid.1"
    else:
        assert sent == {
            "recipient": {"id": to},
            "messaging_type": "RESPONSE",
            "message": {"text": "Hello there"},
        }
        expected_id = "m_1"
    assert await pool.fetchval("SELECT provider_id FROM messages WHERE id = $1", message_id) == expected_id


async def test_email_reply_is_threaded_signed_and_found_again(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, "email", fake_provider.base_url)
    clock = FrozenClock(START)
    interaction = await make_interaction(
        pool, org_id, "email", "email", "grace@example.org", subject="Invoice 42"
    )
    await add_message(pool, org_id, interaction, "customer", "It is wrong", provider_id="<c1@example.org>")
    async with pool.acquire() as conn, conn.transaction():
        message_id = await add_message(conn, org_id, interaction, "agent", "Fixed!")
        await enqueue_interaction_reply(
            conn,
            org_id=org_id,
            interaction_id=interaction,
            message_id=message_id,
            text="Fixed!",
            now=clock.now(),
        )
    assert await worker(pool, http, clock).run_once() == 1

    [call] = fake_provider.calls
    sent = json.loads(call.body)
    assert call.path == "/email/send"
    assert (sent["from"], sent["to"], sent["subject"]) == (
        "help@acme.test",
        "grace@example.org",
        "Re: Invoice 42",
    )
    assert (sent["in_reply_to"], sent["references"]) == ("<c1@example.org>", ["<c1@example.org>"])
    email.verify_signature(
        call.body,
        call.headers["X-Switchboard-Signature"],
        call.headers["X-Switchboard-Timestamp"],
        "relay-secret",
        clock.now(),
    )
    our_id = sent["message_id"]
    assert await pool.fetchval("SELECT provider_id FROM messages WHERE id = $1", message_id) == our_id

    # The customer answers our reply: its In-Reply-To finds the same interaction.
    answer = email.parse_inbound(
        {
            "from": "grace@example.org",
            "message_id": "c2@example.org",
            "in_reply_to": our_id,
            "text": "Thanks",
        },
        clock.now(),
    )
    assert await email.find_thread(pool, org_id, email.thread_keys(answer)) == interaction
    assert await email.find_thread(pool, org_id, ["<unknown@x>"]) is None


async def test_chat_interactions_have_nothing_to_enqueue(pool: asyncpg.Pool, org_id: str) -> None:
    await make_org(pool, org_id)
    interaction = await make_interaction(pool, org_id, "chat", "webchat", "visitor-1")
    message_id = await add_message(pool, org_id, interaction, "agent", "hi")
    result = await enqueue_interaction_reply(
        pool, org_id=org_id, interaction_id=interaction, message_id=message_id, text="hi", now=0
    )
    assert result is None


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for attempts in range(1, 12):
        ceiling = min(300.0, 2.0 * 2 ** (attempts - 1))
        samples = [backoff_delay(attempts, rng) for _ in range(50)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1, "jittered"


async def test_run_forever_delivers_until_stopped(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    await configure(pool, org_id, "sms", fake_provider.base_url)
    clock = FrozenClock(START)
    stop = asyncio.Event()
    task = asyncio.create_task(worker(pool, http, clock).run_forever(stop, idle_s=0.02))
    await sms_reply(pool, org_id, clock)
    for _ in range(200):
        if fake_provider.deliveries:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert len(fake_provider.deliveries) == 1
