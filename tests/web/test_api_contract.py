"""The REST and socket contract of the foundation: auth, errors, idempotency, ordering, VIPs."""

import asyncio

from harness import connect_agent, intake, login_token


def body(queue="billing", email="c@x.test", **extra):  # type: ignore[no-untyped-def]
    return {"channel": "email", "queue": queue, "customer": {"identity": {"type": "email", "value": email}}, **extra}


async def test_route_needs_a_credential_and_the_right_role(http, org):
    async with http.get(f"{org.base}/api/v1/stats/queues") as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "unauthorized"
    agent = await login_token(http, org, "agent1")
    async with http.get(f"{org.base}/api/v1/stats/queues", headers={"Authorization": f"Bearer {agent}"}) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "forbidden"
    async with http.post(
        f"{org.base}/api/v1/interactions", json=body(), headers={"Authorization": f"Bearer {agent}"}
    ) as r:
        assert r.status == 403


async def test_namespace_needs_a_credential_and_the_right_role(http, org):
    _, refused = await connect_agent(org.base, "not-a-token")
    assert refused["code"] == "unauthorized"
    _, refused = await connect_agent(org.base, await login_token(http, org, "supervisor"))
    assert refused["code"] == "forbidden"


async def test_malformed_intake_gets_a_422_with_details(http, org):
    status, err = await intake(http, org, {"channel": "fax", "queue": "billing", "customer": {}})
    assert status == 422
    assert err["error"]["code"] == "validation_error"
    locs = {tuple(d["loc"]) for d in err["error"]["details"]}
    assert ("channel",) in locs and ("customer", "identity") in locs
    status, err = await intake(http, org, body(queue="nope"))
    assert (status, err["error"]["code"]) == (422, "unknown_queue")
    status, err = await intake(http, org, {**body(), "channel": "voice"})
    assert (status, err["error"]["code"]) == (422, "channel_not_accepted")
    async with http.post(
        f"{org.base}/api/v1/interactions",
        data="{not json",
        headers={"Authorization": f"Bearer {org.api_key}", "Content-Type": "application/json"},
    ) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_json"


async def test_idempotency_key_returns_the_same_interaction(http, org, pool):
    s1, b1 = await intake(http, org, body(), key="order-1")
    s2, b2 = await intake(http, org, body(), key="order-1")
    assert (s1, s2) == (201, 200) and b1["id"] == b2["id"]
    results = await asyncio.gather(*(intake(http, org, body(), key="order-2") for _ in range(8)))
    assert len({b["id"] for _, b in results}) == 1
    n = await pool.fetchval("SELECT count(*) FROM interactions WHERE org_id=$1 AND idempotency_key='order-2'", org.id)
    assert n == 1


async def test_positions_follow_priority_then_age(http, org):
    ids = []
    for prio in (2, 2, 8):
        status, b = await intake(http, org, body(priority=prio))
        assert status == 201 and b["state"] == "queued"
        ids.append(b["id"])
    positions = []
    for iid in ids:
        async with http.get(
            f"{org.base}/api/v1/interactions/{iid}", headers={"Authorization": f"Bearer {org.api_key}"}
        ) as r:
            data = await r.json()
            positions.append(data["position"])
            assert data["estimated_wait_s"] is not None
    assert positions == [2, 3, 1]


async def test_vip_customers_wait_at_higher_priority(http, org, pool):
    await pool.execute(
        "INSERT INTO customers (id, org_id, name, attributes) VALUES (gen_random_uuid(), $1, 'V', '{\"vip\": true}')",
        org.id,
    )
    cid = await pool.fetchval("SELECT id FROM customers WHERE org_id=$1 AND name='V'", org.id)
    await pool.execute("INSERT INTO customer_identities VALUES ($1, 'email', 'vip@x.test', $2)", org.id, cid)
    _, normal = await intake(http, org, body(priority=5))
    _, vip = await intake(http, org, body(email="vip@x.test"))
    assert vip["position"] == 1 and vip["id"] != normal["id"]
    row = await pool.fetchrow("SELECT priority, customer_id FROM interactions WHERE id=$1::uuid", vip["id"])
    assert row["priority"] == 8 and row["customer_id"] == cid


async def test_last_agent_is_offered_first(http, org, pool, redis, agents):
    from queues.config import publish_all

    await pool.execute("UPDATE queues SET last_agent_window_s=3600, strategy='longest_idle' WHERE org_id=$1", org.id)
    await publish_all(pool, redis, org.id)  # bumps the config version the app's cache watches
    a1 = await agents("agent1")
    a5 = await agents("agent5")
    first = {"channel": "chat", "queue": "sales", "customer": {"identity": {"type": "phone", "value": "+14155550100"}}}
    _, b = await intake(http, org, first)
    offer = await a1.wait("offer")
    assert (await a1.call("offer:accept", {"offer_id": offer["offer_id"]}))["ok"]
    await a1.call("interaction:end", {"interaction_id": b["id"]})
    await a1.call("interaction:wrap_up", {"interaction_id": b["id"], "code": "resolved"})
    # a1 is now the most recently idle; without the preference longest_idle would pick a5
    _, b2 = await intake(http, org, first)
    offer = await a1.wait("offer")
    assert offer["interaction"]["id"] == b2["id"]
    assert not [o for o in a5.received("offer") if o["interaction"]["id"] == b2["id"]]
