"""Customer profiles over REST: CRUD, identity clashes, agent visibility, merge; export, erasure, retention."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from channel_flow_fixtures import (
    FakeProvider,
    admin_headers,
    configure,
    post_sms,
    running_provider,
    sms_params,
)

from customers.profiles import purge_expired


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    async with running_provider() as fake:
        yield fake


async def create(http, org, headers, body):  # type: ignore[no-untyped-def]
    async with http.post(f"{org.base}/api/v1/customers", json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_customer_crud_with_unique_identities(http, org):
    sup = await admin_headers(http, org, "supervisor")
    status, cora = await create(
        http,
        org,
        sup,
        {"name": "Cora", "attributes": {"vip": True}, "identities": [{"type": "phone", "value": "+1 415 555 0123"}]},
    )
    assert status == 201, cora
    assert cora["vip"] is True and cora["identities"] == [{"type": "phone", "value": "+14155550123"}]
    status, clash = await create(
        http, org, sup, {"name": "Impostor", "identities": [{"type": "phone", "value": "+14155550123"}]}
    )
    assert status == 409 and clash["error"]["code"] == "identity_taken"
    url = f"{org.base}/api/v1/customers/{cora['id']}"
    async with http.patch(
        url,
        json={
            "attributes": {"vip": None, "tier": "gold"},
            "identities": [{"type": "phone", "value": "+14155550123"}, {"type": "email", "value": "Cora@Example.test"}],
        },
        headers=sup,
    ) as r:
        assert r.status == 200, await r.text()
        patched = await r.json()
    assert patched["attributes"] == {"tier": "gold"} and patched["vip"] is False
    assert {"type": "email", "value": "cora@example.test"} in patched["identities"]
    async with http.get(f"{org.base}/api/v1/customers", params={"query": "example.test"}, headers=sup) as r:
        assert [c["id"] for c in (await r.json())["items"]] == [cora["id"]]
    async with http.delete(url, headers=sup) as r:
        assert r.status == 204
    async with http.get(url, headers=sup) as r:
        assert r.status == 404


async def test_agents_see_only_customers_they_served(http, org, agents, provider):
    await configure(http, org, "sms", provider.base_url)
    agent = await agents("agent1")
    await agent.wait("session")
    assert (await post_sms(http, org, sms_params("+14155550123", "hi", "SM2001")))[0] == 200
    offer = await agent.wait("offer")
    customer_id = offer["interaction"]["customer"]["id"]
    sup = await admin_headers(http, org, "supervisor")
    _, stranger = await create(http, org, sup, {"name": "Stranger"})
    a1 = await admin_headers(http, org, "agent1")
    async with http.get(f"{org.base}/api/v1/customers/{customer_id}", headers=a1) as r:
        assert r.status == 200, await r.text()
        profile = await r.json()
    assert profile["identities"] == [{"type": "phone", "value": "+14155550123"}]
    assert len(profile["interactions"]) == 1
    async with http.get(f"{org.base}/api/v1/customers/{stranger['id']}", headers=a1) as r:
        assert r.status == 404
    async with http.get(f"{org.base}/api/v1/customers", headers=a1) as r:
        assert r.status == 403


async def test_merge_moves_identities_and_interactions(http, org, provider, pool):
    await configure(http, org, "sms", provider.base_url)
    assert (await post_sms(http, org, sms_params("+14155550123", "from my mobile", "SM2002")))[0] == 200
    sup = await admin_headers(http, org, "supervisor")
    phone_owner = await pool.fetchval("SELECT customer_id::text FROM customer_identities WHERE org_id=$1", org.id)
    _, main = await create(
        http,
        org,
        sup,
        {
            "name": "Cora Main",
            "attributes": {"vip": True},
            "identities": [{"type": "email", "value": "cora@example.test"}],
        },
    )
    async with http.post(
        f"{org.base}/api/v1/customers/{main['id']}/merge", json={"from_id": phone_owner}, headers=sup
    ) as r:
        assert r.status == 200, await r.text()
        merged = await r.json()
    assert {i["type"] for i in merged["identities"]} == {"email", "phone"}
    assert merged["name"] == "Cora Main" and merged["vip"] is True
    assert len(merged["interactions"]) == 1
    async with http.get(f"{org.base}/api/v1/customers/{phone_owner}", headers=sup) as r:
        assert (await r.json())["merged_into"] == main["id"]
    async with http.post(
        f"{org.base}/api/v1/customers/{main['id']}/merge", json={"from_id": phone_owner}, headers=sup
    ) as r:
        assert r.status == 409
    # The next SMS from the phone lands on the surviving profile.
    await pool.execute("UPDATE interactions SET state='completed' WHERE org_id=$1", org.id)
    assert (await post_sms(http, org, sms_params("+14155550123", "again", "SM2003")))[0] == 200
    owners = {
        str(r["customer_id"]) for r in await pool.fetch("SELECT customer_id FROM interactions WHERE org_id=$1", org.id)
    }
    assert owners == {main["id"]}


async def test_export_then_erase_keeps_anonymous_statistics(http, org, provider, pool):
    await configure(http, org, "sms", provider.base_url)
    assert (await post_sms(http, org, sms_params("+14155550123", "my card is 4111", "SM2004")))[0] == 200
    cid = await pool.fetchval("SELECT customer_id::text FROM customer_identities WHERE org_id=$1", org.id)
    admin = await admin_headers(http, org)
    sup = await admin_headers(http, org, "supervisor")
    async with http.get(f"{org.base}/api/v1/customers/{cid}/export", headers=sup) as r:
        assert r.status == 403
    async with http.get(f"{org.base}/api/v1/customers/{cid}/export", headers=admin) as r:
        assert r.status == 200
        export = await r.json()
    assert export["customer"]["identities"] == [{"type": "phone", "value": "+14155550123"}]
    assert export["interactions"][0]["transcript"][0]["text"] == "my card is 4111"
    async with http.post(f"{org.base}/api/v1/customers/{cid}/erase", headers=admin) as r:
        assert r.status == 200, await r.text()
        erased = await r.json()
    assert erased["messages_scrubbed"] == 1 and erased["identities_removed"] == 1
    texts = [r["text"] for r in await pool.fetch("SELECT text FROM messages WHERE org_id=$1", org.id)]
    assert texts == ["[erased]"]
    assert await pool.fetchval("SELECT count(*) FROM customer_identities WHERE org_id=$1", org.id) == 0
    row = await pool.fetchrow("SELECT channel, queue FROM interactions WHERE org_id=$1", org.id)
    assert (row["channel"], row["queue"]) == ("sms", "sales")
    customer = await pool.fetchrow("SELECT name, erased_at FROM customers WHERE id=$1::uuid", cid)
    assert customer["name"] is None and customer["erased_at"] is not None


async def test_retention_purge_scrubs_only_old_closed_transcripts(http, org, provider, pool):
    await configure(http, org, "sms", provider.base_url)
    admin = await admin_headers(http, org)
    async with http.put(f"{org.base}/api/v1/org/retention", json={"days": 30}, headers=admin) as r:
        assert r.status == 200 and (await r.json()) == {"days": 30}
    async with http.put(f"{org.base}/api/v1/org/retention", json={"days": 0}, headers=admin) as r:
        assert r.status == 422
    for sid, number in (("SM2005", "+14155550123"), ("SM2006", "+14155550124"), ("SM2007", "+14155550125")):
        assert (await post_sms(http, org, sms_params(number, f"text {sid}", sid)))[0] == 200
    rows = await pool.fetch(
        "SELECT i.id, ci.value FROM interactions i JOIN customer_identities ci"
        " ON ci.customer_id = i.customer_id WHERE i.org_id=$1",
        org.id,
    )
    by_number = {r["value"]: r["id"] for r in rows}
    old_closed, old_open = by_number["+14155550123"], by_number["+14155550124"]
    await pool.execute(
        "UPDATE messages SET at = now() - interval '40 days' WHERE interaction_id = ANY($1::uuid[])",
        [old_closed, old_open],
    )
    await pool.execute("UPDATE interactions SET state='completed' WHERE id=$1", old_closed)
    assert await purge_expired(pool, time.time(), org.id) == 1
    texts = {
        str(r["interaction_id"]): r["text"]
        for r in await pool.fetch("SELECT interaction_id, text FROM messages WHERE org_id=$1", org.id)
    }
    assert texts[str(old_closed)] == "[erased]"
    assert texts[str(old_open)] == "text SM2006"
    assert texts[str(by_number["+14155550125"])] == "text SM2007"
