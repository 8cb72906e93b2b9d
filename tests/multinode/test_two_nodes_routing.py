"""Two `switchboard serve` processes share one Redis and PostgreSQL: 20 agents spread over both,
500 interactions posted to both — each ends completed exactly once, none offered twice at once."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest
from harness import AutoAgent, connect_auto_agents
from procs import ServerProcess

from agents.store import create_user
from web.auth import hash_password

pytestmark = pytest.mark.slow
N_AGENTS = 20
N_INTERACTIONS = 500


async def test_two_processes_route_500_interactions(database_url, redis_url, org, pool):
    nodes = [ServerProcess(database_url, redis_url, f"n{i}") for i in range(2)]
    await asyncio.gather(*(n.start() for n in nodes))
    agents: list[AutoAgent] = []
    try:
        pw = hash_password("switchboard")
        for i in range(N_AGENTS - 5):
            await create_user(
                pool,
                org.id,
                email=f"extra{i}@{org.domain}",
                password_hash=pw,
                role="agent",
                display_name=f"Extra {i}",
                skills={"sales": 1 + i % 9, "support": 3},
            )
        locals_ = [f"agent{i}" for i in range(1, 6)] + [f"extra{i}" for i in range(N_AGENTS - 5)]
        async with aiohttp.ClientSession() as http:
            await connect_auto_agents(http, org, [n.base for n in nodes], locals_, agents)

            async def post(i: int) -> str:
                node = nodes[i % 2]
                body = {
                    "channel": "chat",
                    "queue": ["sales", "support"][i % 2],
                    "customer": {"identity": {"type": "email", "value": f"c{i}@x.test"}},
                }
                async with http.post(
                    f"{node.base}/api/v1/interactions",
                    json=body,
                    headers={"Authorization": f"Bearer {org.api_key}", "Idempotency-Key": f"k{i}"},
                ) as r:
                    assert r.status == 201, await r.text()
                    return str((await r.json())["id"])

            ids: list[str] = []
            for start in range(0, N_INTERACTIONS, 50):
                ids += await asyncio.gather(*(post(i) for i in range(start, start + 50)))
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            done = await pool.fetchval(
                "SELECT count(*) FROM interactions WHERE org_id=$1 AND state='completed'", org.id
            )
            if done == N_INTERACTIONS or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.25)
        assert done == N_INTERACTIONS
        assert len(set(ids)) == N_INTERACTIONS
        completed = Counter(
            r["interaction_id"]
            for r in await pool.fetch("SELECT interaction_id FROM events WHERE org_id=$1 AND kind='completed'", org.id)
        )
        assert set(completed.values()) == {1}
        accepted = Counter(i for a in agents for i in a.accepted)
        assert len(accepted) == N_INTERACTIONS and set(accepted.values()) == {1}
        assert not [e for a in agents for e in a.errors]
        # both processes routed: agents on each node got work
        per_node = [sum(len(a.accepted) for a in agents[k::2]) for k in range(2)]
        assert all(n > 0 for n in per_node), per_node
    finally:
        for a in agents:
            await a.sio.disconnect()
        for n in nodes:
            n.stop()
