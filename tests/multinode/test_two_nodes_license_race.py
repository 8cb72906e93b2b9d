"""200 agent logins racing over two server processes against a 50-seat concurrent license:
exactly 50 get in; after 10 log out, exactly 10 more do."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
import pytest
from harness import connect_agent, login_token, signed_license
from procs import ServerProcess

from licensing import seats
from web.auth import hash_password

pytestmark = pytest.mark.slow


async def test_exactly_fifty_of_two_hundred_get_a_seat(database_url, redis_url, org, pool, redis):
    await pool.execute("DELETE FROM licenses WHERE org_id=$1", org.id)
    pw = hash_password("switchboard")
    await pool.executemany(
        "INSERT INTO users (id, org_id, email, password_hash, role, display_name, skills)"
        " VALUES (gen_random_uuid(), $1, $2, $3, 'agent', $4, '{\"sales\": 3}')",
        [(org.id, f"racer{i}@{org.domain}", pw, f"Racer {i}") for i in range(200)],
    )
    nodes = [ServerProcess(database_url, redis_url, f"lic{i}") for i in range(2)]
    await asyncio.gather(*(n.start() for n in nodes))
    clients = []
    try:
        async with aiohttp.ClientSession() as http:
            admin = await login_token(http, org, "admin")
            async with http.post(
                f"{org.base}/api/v1/licenses",
                data=signed_license(org.id, "concurrent", 50),
                headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
            ) as r:
                assert r.status == 201
            tokens = await asyncio.gather(
                *(login_token(http, dataclasses.replace(org, base=nodes[i % 2].base), f"racer{i}") for i in range(200))
            )
        results = await asyncio.gather(*(connect_agent(nodes[i % 2].base, t) for i, t in enumerate(tokens)))
        clients = [c for c, _ in results]
        admitted = [i for i, (_, refused) in enumerate(results) if refused is None]
        refused_codes = {refused["code"] for _, refused in results if refused is not None}
        assert await seats.in_use(redis, org.id) == 50
        assert len(admitted) == 50, [
            r for _, r in results if r is not None and r.get("code") != "license_concurrent_cap"
        ]
        assert refused_codes == {"license_concurrent_cap"}
        for i in admitted[:10]:
            ack = await clients[i].call("state:set", {"state": "logged_out"}, namespace="/agent")
            assert ack["ok"]
        waiting = [i for i, (_, refused) in enumerate(results) if refused is not None]
        second = await asyncio.gather(*(connect_agent(nodes[i % 2].base, tokens[i]) for i in waiting))
        clients += [c for c, _ in second]
        assert sum(1 for _, refused in second if refused is None) == 10
        assert await seats.in_use(redis, org.id) == 50
        in_use = await pool.fetchval(
            "SELECT count(*) FROM license_audit WHERE org_id=$1 AND action='login_refused'", org.id
        )
        assert in_use >= 150 + 140
    finally:
        await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
        for n in nodes:
            n.stop()
