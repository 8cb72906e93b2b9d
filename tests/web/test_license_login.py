"""Licensing at the agent's door: seats claimed by the first socket, refusals, grace on reconnect."""

import asyncio

from harness import connect_agent, login_token, signed_license

from switchboard import keys


async def replace_licenses(pool, org_id: str, *docs: str, http=None, base=None, admin_token=None) -> None:
    await pool.execute("DELETE FROM licenses WHERE org_id=$1", org_id)
    for doc in docs:
        async with http.post(
            f"{base}/api/v1/licenses",
            data=doc,
            headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
        ) as r:
            assert r.status == 201, await r.text()


async def test_concurrent_cap_refuses_with_its_code_and_logout_frees(http, org, pool):
    admin = await login_token(http, org, "admin")
    await replace_licenses(
        pool, org.id, signed_license(org.id, "concurrent", 2), http=http, base=org.base, admin_token=admin
    )
    clients = []
    for local in ("agent1", "agent2"):
        sio, refused = await connect_agent(org.base, await login_token(http, org, local))
        assert refused is None
        clients.append(sio)
    sio3, refused = await connect_agent(org.base, await login_token(http, org, "agent3"))
    assert refused["code"] == "license_concurrent_cap"
    ack = await clients[0].call("state:set", {"state": "logged_out"}, namespace="/agent")
    assert ack["ok"]
    sio4, refused = await connect_agent(org.base, await login_token(http, org, "agent3"))
    assert refused is None
    for c in (*clients, sio4):
        await c.disconnect()
    del sio3


async def test_missing_and_expired_licenses_refuse_agents_but_not_admins(http, org, pool):
    admin = await login_token(http, org, "admin")
    await pool.execute("DELETE FROM licenses WHERE org_id=$1", org.id)
    await asyncio.sleep(2.1)  # the license cache lives up to 2 s
    _, refused = await connect_agent(org.base, await login_token(http, org, "agent1"))
    assert refused["code"] == "license_missing"
    # an expired license cannot even be uploaded; put one in place as if it had expired since
    doc = signed_license(org.id, "concurrent", 5, days_from=-30, days_until=1)
    async with http.post(
        f"{org.base}/api/v1/licenses",
        data=doc,
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
    ) as r:
        assert r.status == 201
    await pool.execute("UPDATE licenses SET valid_until = now() - interval '1 hour' WHERE org_id=$1", org.id)
    await asyncio.sleep(2.1)
    _, refused = await connect_agent(org.base, await login_token(http, org, "agent1"))
    assert refused["code"] == "license_expired"
    assert await login_token(http, org, "admin")


async def test_reconnect_within_grace_keeps_seat_and_absence_frees_it(http, org, pool, redis):
    admin = await login_token(http, org, "admin")
    await replace_licenses(
        pool, org.id, signed_license(org.id, "concurrent", 1), http=http, base=org.base, admin_token=admin
    )
    token1 = await login_token(http, org, "agent1")
    sio, refused = await connect_agent(org.base, token1)
    assert refused is None
    await sio.disconnect()
    await asyncio.sleep(0.5)
    # within the grace (2 s in tests) the seat is still agent1's
    other, refused = await connect_agent(org.base, await login_token(http, org, "agent2"))
    assert refused["code"] == "license_concurrent_cap"
    sio, refused = await connect_agent(org.base, token1)
    assert refused is None
    await sio.disconnect()
    agent_key = keys.agent(
        org.id, await pool.fetchval("SELECT id::text FROM users WHERE email=$1", org.email("agent1"))
    )
    # the 2 s grace, then the timer poller's next round (slower on a loaded machine)
    live = None
    for _ in range(40):
        await asyncio.sleep(0.25)
        live = await redis.hget(agent_key, "state")
        if live == "logged_out":
            break
    assert live == "logged_out"
    other, refused = await connect_agent(org.base, await login_token(http, org, "agent2"))
    assert refused is None
    await other.disconnect()
