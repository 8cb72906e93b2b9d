"""Channel test helpers: a local fake provider that fails on cue, and row builders."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from channels.config import ChannelConfig, upsert_channel_config


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeProvider:
    """Speaks just enough Twilio / Graph / relay / integrator HTTP, and dedupes on Idempotency-Key."""

    base_url: str = ""
    fail_next: int = 0  # answer 500 to the next N calls
    down: bool = False  # answer 503 while set
    lose_next: int = 0  # act on the next N calls, then answer 500 as if the response got lost
    reject: bool = False  # answer 400 (a permanent refusal)
    calls: list[Call] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[Call] = field(default_factory=list)

    def _response_for(self, path: str, n: int) -> dict[str, Any]:
        if path.endswith("/Messages.json"):
            return {"sid": f"SM{n:032d}", "status": "queued"}
        if path.endswith("/me/messages"):
            return {"recipient_id": "psid", "message_id": f"m_{n}"}
        if path.endswith("/messages"):
            return {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.{n}"}]}
        return {"ok": True}

    async def handle(self, request: web.Request) -> web.Response:
        call = Call(request.path, dict(request.headers), await request.read())
        self.calls.append(call)
        if self.down:
            return web.Response(status=503, text="down for maintenance")
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500, text="internal error")
        if self.reject:
            return web.json_response({"error": "invalid recipient"}, status=400)
        key = request.headers.get("Idempotency-Key", f"nokey-{len(self.calls)}")
        if key not in self.accepted:
            self.accepted[key] = self._response_for(request.path, len(self.deliveries) + 1)
            self.deliveries.append(call)
        if self.lose_next > 0:
            self.lose_next -= 1
            return web.Response(status=500, text="gateway timeout after commit")
        return web.json_response(self.accepted[key], status=201)


@pytest.fixture
async def fake_provider() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}"
    yield fake
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def make_org(db: asyncpg.Pool | asyncpg.Connection, org_id: str) -> None:
    await db.execute("INSERT INTO orgs(id, name) VALUES ($1, $1)", org_id)


async def make_interaction(
    db: asyncpg.Pool | asyncpg.Connection,
    org_id: str,
    channel: str,
    identity_type: str,
    identity_value: str,
    subject: str | None = None,
) -> uuid.UUID:
    """An interaction of the customer with this identity (created on first use)."""
    interaction_id = uuid.uuid4()
    now = datetime.now(UTC)
    customer_id = await db.fetchval(
        "SELECT customer_id FROM customer_identities WHERE org_id = $1 AND type = $2 AND value = $3",
        org_id,
        identity_type,
        identity_value,
    )
    if customer_id is None:
        customer_id = uuid.uuid4()
        await db.execute("INSERT INTO customers (id, org_id) VALUES ($1, $2)", customer_id, org_id)
        await db.execute(
            "INSERT INTO customer_identities (org_id, type, value, customer_id) VALUES ($1, $2, $3, $4)",
            org_id,
            identity_type,
            identity_value,
            customer_id,
        )
    await db.execute(
        "INSERT INTO interactions (id, org_id, channel, queue, original_queue, state, priority, subject,"
        " customer_id, created_at, enqueued_at) VALUES ($1, $2, $3, 'support', 'support', 'connected', 5,"
        " $4, $5, $6, $6)",
        interaction_id,
        org_id,
        channel,
        subject,
        customer_id,
        now,
    )
    return interaction_id


async def add_message(
    db: asyncpg.Pool | asyncpg.Connection,
    org_id: str,
    interaction_id: uuid.UUID,
    sender: str,
    text: str,
    provider_id: str | None = None,
    at: datetime | None = None,
) -> int:
    message_id: int = await db.fetchval(
        "INSERT INTO messages (org_id, interaction_id, sender, text, provider_id, status, at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        org_id,
        interaction_id,
        sender,
        text,
        provider_id,
        "received" if sender == "customer" else "pending",
        at or datetime.now(UTC),
    )
    return message_id


def provider_settings(channel: str, base_url: str) -> dict[str, Any]:
    if channel == "sms":
        return {
            "account_sid": "AC123",
            "auth_token": "tw-token",
            "from_number": "+14155550100",
            "base_url": base_url,
        }
    if channel == "email":
        return {
            "signing_secret": "relay-secret",
            "send_url": f"{base_url}/email/send",
            "from_address": "help@acme.test",
        }
    return {
        "app_secret": "app-secret",
        "verify_token": "vt",
        "access_token": "graph-token",
        "phone_number_id": "106540352242922",
        "base_url": base_url,
        "version": "v21.0",
    }


async def configure(
    pool: asyncpg.Pool, org_id: str, channel: str, base_url: str, enabled: bool = True
) -> None:
    await upsert_channel_config(
        pool,
        ChannelConfig(
            org_id=org_id,
            channel=channel,  # type: ignore[arg-type]
            queue="support",
            enabled=enabled,
            provider=provider_settings(channel, base_url),
        ),
    )
