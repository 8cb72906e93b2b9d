"""Provider webhooks through the real app: signatures, refusals, dedupe, allow-lists, handshakes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest
from channel_flow_fixtures import (
    META_VERIFY,
    FakeProvider,
    configure,
    messenger_payload,
    post_email,
    post_meta,
    post_sms,
    running_provider,
    sms_params,
    twilio_signature,
    whatsapp_payload,
)

from queues.config import save_queue
from queues.model import QueueConfig


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    async with running_provider() as fake:
        yield fake


async def interactions_of(pool, org_id):  # type: ignore[no-untyped-def]
    return await pool.fetch("SELECT * FROM interactions WHERE org_id=$1 ORDER BY created_at", org_id)


async def messages_of(pool, org_id):  # type: ignore[no-untyped-def]
    return await pool.fetch("SELECT * FROM messages WHERE org_id=$1 ORDER BY id", org_id)


async def test_signed_sms_opens_an_interaction_in_the_configured_queue(http, org, provider, pool):
    await configure(http, org, "sms", provider.base_url)
    status, text = await post_sms(http, org, sms_params("+14155550123", "hello there", "SM0001"))
    assert status == 200, text
    assert "<Response>" in text
    [row] = await interactions_of(pool, org.id)
    assert (row["channel"], row["queue"], row["state"]) == ("sms", "sales", "queued")
    [msg] = await messages_of(pool, org.id)
    assert (msg["sender"], msg["text"], msg["provider_id"]) == ("customer", "hello there", "SM0001")
    ident = await pool.fetchrow("SELECT * FROM customer_identities WHERE org_id=$1", org.id)
    assert (ident["type"], ident["value"], ident["customer_id"]) == ("phone", "+14155550123", row["customer_id"])


async def test_tampered_or_unsigned_sms_is_refused_and_nothing_stored(http, org, provider, pool):
    await configure(http, org, "sms", provider.base_url)
    params = sms_params("+14155550123", "pay me", "SM0002")
    url = f"{org.base}/webhooks/sms/{org.id}"
    good = twilio_signature(url, params)
    tampered = urlencode({**params, "Body": "pay me 1000"}).encode()
    assert (await post_sms(http, org, params, signature=good, body=tampered))[0] == 403
    assert (await post_sms(http, org, params, signature=""))[0] == 403
    wrong_key = twilio_signature(url, params, token="not-the-token")
    assert (await post_sms(http, org, params, signature=wrong_key))[0] == 403
    assert await interactions_of(pool, org.id) == []
    assert await messages_of(pool, org.id) == []


async def test_sms_signature_checks_the_public_url_behind_a_proxy(http, org, provider, pool):
    await configure(http, org, "sms", provider.base_url)
    params = sms_params("+14155550123", "via proxy", "SM0003")
    public = f"https://cc.example.com/webhooks/sms/{org.id}"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "cc.example.com",
        "X-Twilio-Signature": twilio_signature(public, params),
    }
    async with http.post(f"{org.base}/webhooks/sms/{org.id}", data=urlencode(params), headers=headers) as r:
        assert r.status == 200, await r.text()
    assert len(await interactions_of(pool, org.id)) == 1


async def test_retried_sms_webhook_stores_the_message_once(http, org, provider, pool):
    await configure(http, org, "sms", provider.base_url)
    params = sms_params("+14155550123", "once only", "SM0004")
    for _ in range(3):
        assert (await post_sms(http, org, params))[0] == 200
    assert len(await interactions_of(pool, org.id)) == 1
    assert [m["text"] for m in await messages_of(pool, org.id)] == ["once only"]


async def test_bad_requests_get_clear_client_errors(http, org, provider, pool):
    params = sms_params("+14155550123", "hi", "SM0005")
    status, body = await post_sms(http, org, params)
    assert status == 404 and json.loads(body)["error"]["code"] == "channel_not_configured"
    async with http.post(
        f"{org.base}/webhooks/sms/nosuchorg",
        data=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "unknown_org"
    await configure(http, org, "sms", provider.base_url)
    async with http.post(f"{org.base}/webhooks/sms/{org.id}", json=params) as r:
        assert r.status == 415
    missing = {k: v for k, v in params.items() if k != "From"}
    status, body = await post_sms(http, org, missing)
    assert status == 400 and json.loads(body)["error"]["code"] == "malformed_payload"
    huge = {**params, "Body": "x" * 200_000}
    assert (await post_sms(http, org, huge))[0] == 413
    assert await interactions_of(pool, org.id) == []


async def test_suspended_channel_refuses_webhooks(http, org, provider, pool):
    await configure(http, org, "sms", provider.base_url, enabled=False)
    status, body = await post_sms(http, org, sms_params("+14155550123", "hi", "SM0006"))
    assert status == 403 and json.loads(body)["error"]["code"] == "channel_suspended"
    assert await interactions_of(pool, org.id) == []


async def test_numbers_outside_the_allowed_countries_are_refused(http, org, provider, pool):
    await configure(http, org, "sms", provider.base_url, allowed_countries=["GB"])
    status, body = await post_sms(http, org, sms_params("+14155550123", "from the US", "SM0007"))
    assert status == 403 and json.loads(body)["error"]["code"] == "country_not_allowed"
    assert (await post_sms(http, org, sms_params("+442071838750", "from the UK", "SM0008")))[0] == 200
    [row] = await interactions_of(pool, org.id)
    assert row["channel"] == "sms"


async def test_whatsapp_signed_payload_is_accepted_and_tampered_refused(http, org, provider, pool):
    await configure(http, org, "whatsapp", provider.base_url)
    payload = whatsapp_payload("+14155550123", "hello on whatsapp", "wamid.A1")
    raw = json.dumps(payload).encode()
    from channel_flow_fixtures import meta_signature

    status, body = await post_meta(
        http, org, "whatsapp", payload, signature=meta_signature(raw), body=raw.replace(b"hello", b"HELLO")
    )
    assert status == 403 and body["error"]["code"] == "invalid_signature"
    assert await interactions_of(pool, org.id) == []
    status, body = await post_meta(http, org, "whatsapp", payload)
    assert status == 200, body
    assert body["messages"][0]["action"] == "created"
    [row] = await interactions_of(pool, org.id)
    assert row["channel"] == "whatsapp"
    customer = await pool.fetchrow("SELECT name FROM customers WHERE id=$1", row["customer_id"])
    assert customer["name"] == "Wanda"


async def test_meta_verify_handshake(http, org, provider):
    await configure(http, org, "whatsapp", provider.base_url)
    url = f"{org.base}/webhooks/whatsapp/{org.id}"
    query = {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY, "hub.challenge": "1158201444"}
    async with http.get(url, params=query) as r:
        assert r.status == 200 and await r.text() == "1158201444"
    async with http.get(url, params={**query, "hub.verify_token": "guess"}) as r:
        assert r.status == 403


async def test_messenger_message_opens_an_interaction(http, org, provider, pool, redis):
    await save_queue(
        pool, redis, org.id, QueueConfig(name="sales", channels=["chat", "messenger"], skills={"sales": 1})
    )
    await configure(http, org, "messenger", provider.base_url)
    payload = messenger_payload("PSID-77", "hello from messenger", "m_abc")
    assert (await post_meta(http, org, "messenger", payload, signature="sha256=" + "0" * 64))[0] == 403
    status, body = await post_meta(http, org, "messenger", payload)
    assert status == 200, body
    [row] = await interactions_of(pool, org.id)
    assert row["channel"] == "messenger"
    ident = await pool.fetchrow("SELECT type, value FROM customer_identities WHERE org_id=$1", org.id)
    assert dict(ident) == {"type": "messenger", "value": "PSID-77"}


async def test_email_signed_json_is_accepted_and_tampered_refused(http, org, provider, pool):
    await configure(http, org, "email", provider.base_url)
    doc = {
        "from": "Cora <Cora@Example.test>",
        "subject": "Order 42",
        "text": "hello, where is it?",
        "message_id": "<m1@example.test>",
    }
    status, body = await post_email(http, org, doc, tamper=True)
    assert status == 403 and body["error"]["code"] == "invalid_signature"
    assert await interactions_of(pool, org.id) == []
    status, body = await post_email(http, org, doc)
    assert status == 200, body
    [row] = await interactions_of(pool, org.id)
    assert (row["channel"], row["subject"]) == ("email", "Order 42")
    ident = await pool.fetchrow("SELECT value FROM customer_identities WHERE org_id=$1", org.id)
    assert ident["value"] == "cora@example.test"
    status, body = await post_email(http, org, {"subject": "no sender", "text": "x", "message_id": "<m2@x>"})
    assert status == 400


async def test_email_reply_threads_by_in_reply_to(http, org, provider, pool):
    await configure(http, org, "email", provider.base_url)
    first = {"from": "cora@example.test", "subject": "Order 42", "text": "hello", "message_id": "<m1@ex.test>"}
    assert (await post_email(http, org, first))[0] == 200
    # A different address (forwarded from a colleague) still threads by its headers.
    reply = {
        "from": "dave@example.test",
        "subject": "Re: Order 42",
        "text": "any news?",
        "message_id": "<m3@ex.test>",
        "in_reply_to": "<m1@ex.test>",
        "references": "<m1@ex.test>",
    }
    status, body = await post_email(http, org, reply)
    assert status == 200 and body["messages"][0]["action"] == "joined", body
    [row] = await interactions_of(pool, org.id)
    assert [m["text"] for m in await messages_of(pool, org.id)] == ["hello", "any news?"]
    assert body["messages"][0]["interaction_id"] == str(row["id"])
