"""Integrator events: published inside the transaction, delivered signed, visible in the log."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid
from datetime import UTC, datetime

import aiohttp
import asyncpg
import pytest
from channel_fixtures import FakeProvider, make_org

from channels import events
from channels.outbox import OutboxWorker
from switchboard.clock import FrozenClock

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def test_published_event_is_delivered_signed_and_logged(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    clock = FrozenClock(START)
    sub, secret = await events.create_subscription(
        pool, org_id, f"{fake_provider.base_url}/hooks/crm", ["interaction.created", "interaction.completed"]
    )
    interaction_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        ids = await events.publish(
            conn, org_id, "interaction.created", {"id": interaction_id, "queue": "support"}, clock.now()
        )
    assert len(ids) == 1

    clock.advance(3)
    assert await OutboxWorker(pool, http, clock, rng=random.Random(1)).run_once() == 1

    [call] = fake_provider.calls
    assert call.path == "/hooks/crm"
    assert call.headers["Switchboard-Event"] == "interaction.created"
    assert call.headers["Idempotency-Key"] == f"outbox-{ids[0]}"
    header = call.headers["Switchboard-Signature"]
    ts = int(clock.now())
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + call.body, hashlib.sha256).hexdigest()
    assert header == f"t={ts},v1={expected}"
    assert events.verify_event(call.body, header, secret, now=clock.now())
    event = json.loads(call.body)
    assert event["type"] == "interaction.created"
    assert event["org_id"] == org_id
    assert event["data"] == {"id": str(interaction_id), "queue": "support"}
    assert event["id"].startswith("evt_")

    [entry] = await events.delivery_log(pool, org_id, limit=10)
    assert entry["id"] == ids[0]
    assert entry["subscription_id"] == sub.id
    assert entry["event_type"] == "interaction.created"
    assert entry["event_id"] == event["id"]
    assert (entry["status"], entry["attempts"], entry["last_status_code"]) == ("sent", 1, 201)
    assert entry["target_url"] == sub.url


async def test_only_matching_active_subscriptions_receive_an_event(pool: asyncpg.Pool, org_id: str) -> None:
    await make_org(pool, org_id)
    wants, _ = await events.create_subscription(pool, org_id, "http://a/hook", ["agent.state_changed"])
    everything, _ = await events.create_subscription(pool, org_id, "http://b/hook", ["*"])
    await events.create_subscription(pool, org_id, "http://c/hook", ["interaction.created"])
    paused, _ = await events.create_subscription(pool, org_id, "http://d/hook", ["agent.state_changed"])
    assert await events.set_subscription_active(pool, org_id, paused.id, False)

    ids = await events.publish(
        pool, org_id, "agent.state_changed", {"agent_id": "a1", "state": "available"}, 0
    )

    rows = await pool.fetch("SELECT subscription_id FROM outbox WHERE id = ANY($1::bigint[])", ids)
    assert {r["subscription_id"] for r in rows} == {wants.id, everything.id}


async def test_rolled_back_change_publishes_nothing(pool: asyncpg.Pool, org_id: str) -> None:
    await make_org(pool, org_id)
    await events.create_subscription(pool, org_id, "http://a/hook", ["*"])
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await events.publish(conn, org_id, "interaction.abandoned", {"id": "x"}, 0)
            raise RuntimeError("state change failed")
    assert await events.delivery_log(pool, org_id, 10) == []


async def test_failing_endpoint_is_retried_and_logged(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    clock = FrozenClock(START)
    await events.create_subscription(pool, org_id, f"{fake_provider.base_url}/hooks/x", ["*"])
    await events.publish(pool, org_id, "interaction.completed", {"id": "i1"}, clock.now())
    worker = OutboxWorker(pool, http, clock, rng=random.Random(2))
    fake_provider.fail_next = 1

    await worker.run_once()
    [entry] = await events.delivery_log(pool, org_id, 10)
    assert (entry["status"], entry["attempts"], entry["last_status_code"]) == ("pending", 1, 500)

    clock.advance(300)
    await worker.run_once()
    [entry] = await events.delivery_log(pool, org_id, 10)
    assert (entry["status"], entry["attempts"]) == ("sent", 2)
    first, second = fake_provider.calls
    assert first.body == second.body
    assert first.headers["Switchboard-Signature"] != second.headers["Switchboard-Signature"], (
        "re-signed per attempt"
    )


async def test_paused_subscription_fails_pending_deliveries(
    pool: asyncpg.Pool, org_id: str, fake_provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await make_org(pool, org_id)
    sub, _ = await events.create_subscription(pool, org_id, f"{fake_provider.base_url}/h", ["*"])
    await events.publish(pool, org_id, "interaction.offered", {"id": "i1"}, 0)
    await events.set_subscription_active(pool, org_id, sub.id, False)
    await OutboxWorker(pool, http, FrozenClock(START)).run_once()
    [entry] = await events.delivery_log(pool, org_id, 10)
    assert (entry["status"], entry["last_error"]) == ("failed", "subscription_inactive")
    assert fake_provider.calls == []


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError):
        events._check_types(["interaction.exploded"])


def test_verify_event_refuses_tampering_and_stale_signatures() -> None:
    body = b'{"type":"interaction.created"}'
    header = events.sign_event(body, "s3cret", 1000)
    assert events.verify_event(body, header, "s3cret", now=1100)
    assert not events.verify_event(body + b" ", header, "s3cret", now=1100)
    assert not events.verify_event(body, header, "other", now=1100)
    assert not events.verify_event(body, header, "s3cret", now=1000 + 301)
    assert not events.verify_event(body, "v1=abc", "s3cret", now=1000)
