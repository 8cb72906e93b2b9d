"""Integrator events: subscriptions over REST, signed deliveries to a fake endpoint, pause, delivery log."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator

import pytest
from channel_flow_fixtures import (
    FakeProvider,
    admin_headers,
    configure,
    fast_retries,
    post_sms,
    rest_intake,
    running_provider,
    sms_params,
)


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    async with running_provider() as fake:
        yield fake


@pytest.fixture
def fast(server):  # type: ignore[no-untyped-def]
    with fast_retries(server):
        yield


def verify(body: bytes, header: str, secret: str) -> bool:
    """The check an integrator runs: t=<ts>,v1=hex HMAC-SHA256(secret, "<ts>.<body>"), recent."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


async def subscribe(http, org, url, events, headers):  # type: ignore[no-untyped-def]
    async with http.post(
        f"{org.base}/api/v1/webhook-subscriptions", json={"url": url, "events": events}, headers=headers
    ) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def test_interaction_lifecycle_events_are_delivered_signed(http, org, agents, provider, fast):
    await configure(http, org, "sms", provider.base_url)
    sub = await subscribe(http, org, f"{provider.base_url}/hooks", ["*"], await admin_headers(http, org))
    assert sub["secret"]
    agent = await agents("agent1")
    await agent.wait("session")
    assert (await post_sms(http, org, sms_params("+14155550123", "hi", "SM3001")))[0] == 200
    offer = await agent.wait("offer")
    iid = offer["interaction"]["id"]
    assert (await agent.call("offer:accept", {"offer_id": offer["offer_id"]}))["ok"]
    assert (await agent.call("interaction:end", {"interaction_id": iid}))["ok"]
    assert (await agent.call("interaction:wrap_up", {"interaction_id": iid, "code": "resolved"}))["ok"]

    def delivered() -> list[dict]:  # type: ignore[type-arg]
        return [h.json() for h in provider.accepted.values() if h.path == "/hooks"]

    wanted = ["interaction.created", "interaction.offered", "interaction.connected", "interaction.completed"]
    await provider.wait_for(lambda: all(any(e["type"] == w for e in delivered()) for w in wanted))
    for hit in [h for h in provider.accepted.values() if h.path == "/hooks"]:
        assert verify(hit.body, hit.headers["Switchboard-Signature"], sub["secret"])
        assert hit.headers["Switchboard-Event"] == hit.json()["type"]
    by_type = {e["type"]: e for e in delivered()}
    assert by_type["interaction.created"]["data"]["interaction_id"] == iid
    assert by_type["interaction.created"]["data"]["channel"] == "sms"
    assert by_type["interaction.offered"]["data"]["agent_id"] == org.users[org.email("agent1")]
    assert by_type["interaction.completed"]["data"]["wrap_up_code"] == "resolved"
    states = [e["data"]["state"] for e in delivered() if e["type"] == "agent.state_changed"]
    assert "wrap_up" in states
    assert all(e["org_id"] == org.id for e in delivered())


async def test_abandoned_event_and_delivery_log(http, org, provider, fast):
    integration = {"Authorization": f"Bearer {org.api_key}"}
    sub = await subscribe(http, org, f"{provider.base_url}/hooks", ["interaction.abandoned"], integration)
    status, body = await rest_intake(
        http,
        org,
        {"channel": "chat", "queue": "billing", "customer": {"identity": {"type": "email", "value": "x@example.test"}}},
    )
    assert status == 201
    async with http.delete(f"{org.base}/api/v1/interactions/{body['id']}", headers=integration) as r:
        assert r.status == 200
    await provider.wait_for(lambda: len(provider.accepted) == 1)
    [hit] = provider.accepted.values()
    assert hit.json()["type"] == "interaction.abandoned"
    assert hit.json()["data"] == {"interaction_id": body["id"], "queue": "billing", "reason": "customer"}
    async with http.get(f"{org.base}/api/v1/webhook-deliveries", headers=integration) as r:
        [entry] = (await r.json())["items"]
    assert (entry["event_type"], entry["status"], entry["subscription_id"]) == (
        "interaction.abandoned",
        "sent",
        sub["id"],
    )


async def test_paused_subscription_receives_nothing(http, org, provider, fast, pool):
    admin = await admin_headers(http, org)
    sub = await subscribe(http, org, f"{provider.base_url}/hooks", ["interaction.created"], admin)
    async with http.post(f"{org.base}/api/v1/webhook-subscriptions/{sub['id']}/pause", headers=admin) as r:
        assert r.status == 200 and (await r.json())["active"] is False
    status, _ = await rest_intake(
        http,
        org,
        {"channel": "chat", "queue": "sales", "customer": {"identity": {"type": "email", "value": "y@example.test"}}},
    )
    assert status == 201
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE org_id=$1 AND kind='event'", org.id) == 0
    async with http.post(f"{org.base}/api/v1/webhook-subscriptions/{sub['id']}/resume", headers=admin) as r:
        assert (await r.json())["active"] is True
    status, _ = await rest_intake(
        http,
        org,
        {"channel": "chat", "queue": "sales", "customer": {"identity": {"type": "email", "value": "z@example.test"}}},
    )
    await provider.wait_for(lambda: len(provider.accepted) == 1)


async def test_channel_config_secrets_are_redacted_and_kept(http, org, provider):
    admin = await admin_headers(http, org)
    shown = await configure(http, org, "sms", provider.base_url)
    assert shown["provider"]["auth_token"] == "***"
    body = {"queue": "sales", "provider": {**shown["provider"]}, "enabled": False}
    async with http.put(f"{org.base}/api/v1/channels/sms", json=body, headers=admin) as r:
        assert r.status == 200, await r.text()
    # The kept token still verifies webhooks once the channel is back on.
    await configure(http, org, "sms", provider.base_url)
    assert (await post_sms(http, org, sms_params("+14155550123", "hi", "SM3002")))[0] == 200
    async with http.put(f"{org.base}/api/v1/channels/sms", json={"queue": "nope", "provider": {}}, headers=admin) as r:
        assert r.status == 422
    agent = await admin_headers(http, org, "agent1")
    async with http.get(f"{org.base}/api/v1/channels/sms", headers=agent) as r:
        assert r.status == 403
