"""Switchboard on a real three-node Redis Cluster: two server processes route interactions whose
org keys live on one shard, with agents on both nodes; every interaction completes exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from harness import AutoAgent, Org, connect_auto_agents, free_port, login_token
from procs import ServerProcess

from switchboard import keys, redis_conn
from switchboard.clock import SystemClock
from switchboard.demo import seed_org

pytestmark = pytest.mark.slow
N_INTERACTIONS = 60


def _node_port() -> int:
    """A free port whose cluster-bus port (port + 10000) is free and valid too."""
    while True:
        p = free_port()
        if p + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 10000))
            except OSError:
                continue
        return p


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    """Three master nodes on free ports, slots spread by redis-cli, torn down after the module."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.fail("redis-server and redis-cli are needed (Debian redis-server, redis-tools)")
    root = Path(tempfile.mkdtemp(prefix="sb-cluster-"))
    ports = [_node_port() for _ in range(3)]
    for p in ports:
        (root / str(p)).mkdir()
        subprocess.run(
            ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", str(root / str(p) / "nodes.conf"), "--dir", str(root / str(p)),
             "--save", "", "--appendonly", "no", "--daemonize", "yes", "--logfile", str(root / str(p) / "log")],
            check=True,
        )  # fmt: skip
    try:
        for p in ports:
            for _ in range(50):
                if subprocess.run(["redis-cli", "-p", str(p), "ping"], capture_output=True).stdout.strip() == b"PONG":
                    break
                time.sleep(0.05)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for _ in range(100):
            info = subprocess.run(["redis-cli", "-p", str(ports[0]), "cluster", "info"], capture_output=True).stdout
            if b"cluster_state:ok" in info:
                break
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for p in ports:
            subprocess.run(["redis-cli", "-p", str(p), "shutdown", "nosave"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def problems_of(log: str, org_id: str) -> list[str]:
    """Warnings and errors in a node's log, but for other orgs' (the test database is shared: the
    outbox worker retries and gives up on webhooks earlier tests left to dead fake providers)."""
    lines = [ln for ln in log.splitlines() if '"level": "error"' in ln or '"level": "warning"' in ln]
    return [ln for ln in lines if json.loads(ln).get("org_id", org_id) == org_id]


async def test_two_nodes_route_on_a_redis_cluster(
    cluster_url: str, database_url: str, pool: asyncpg.Pool, org_id: str
) -> None:
    redis = redis_conn.connect(cluster_url, cluster=True)
    nodes = [ServerProcess(database_url, cluster_url, f"rc{i}", SWITCHBOARD_REDIS_CLUSTER="true") for i in range(2)]
    agents: list[AutoAgent] = []
    try:
        users = await seed_org(
            pool, redis, SystemClock(), org_id, email_domain=f"{org_id}.test", api_key=f"key-{org_id}"
        )
        org = Org(org_id, "", f"key-{org_id}", users, f"{org_id}.test")
        # a database with many orgs, as a long-lived deployment has: every node's LiveMetrics and
        # timer rounds issue a command per org at once, more than a cluster node's connection cap
        await pool.execute(
            "INSERT INTO orgs (id, name) SELECT $1 || '-x' || g, 'filler' FROM generate_series(1, 400) g", org_id
        )
        # the org's keys really are spread over the cluster's shards by org: one slot for all of them
        slots = {redis.keyslot(k) for k in (keys.org(org_id), keys.timers(org_id), keys.seats(org_id))}
        assert len(slots) == 1
        await asyncio.gather(*(n.start() for n in nodes))
        async with aiohttp.ClientSession() as http:
            await connect_auto_agents(http, org, [n.base for n in nodes], [f"agent{i}" for i in range(1, 5)], agents)

            async def post(i: int) -> str:
                node = nodes[i % 2]
                body = {
                    "channel": "chat",
                    "queue": "support",
                    "customer": {"identity": {"type": "email", "value": f"c{i}@x.test"}},
                }
                async with http.post(
                    f"{node.base}/api/v1/interactions", json=body, headers={"Authorization": f"Bearer {org.api_key}"}
                ) as r:
                    assert r.status == 201, await r.text()
                    return str((await r.json())["id"])

            ids = await asyncio.gather(*(post(i) for i in range(N_INTERACTIONS)))
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            done = await pool.fetchval(
                "SELECT count(*) FROM interactions WHERE org_id=$1 AND state='completed'", org_id
            )
            if done == N_INTERACTIONS or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.25)
        assert done == N_INTERACTIONS
        accepted = Counter(i for a in agents for i in a.accepted)
        assert set(accepted) == set(ids) and set(accepted.values()) == {1}
        assert not [e for a in agents for e in a.errors]
        per_node = [sum(len(a.accepted) for a in agents[k::2]) for k in range(2)]
        assert all(n > 0 for n in per_node), per_node  # agents on both nodes got work

        # timers fire on the cluster: work nobody can take leaves at its queue's max wait
        async with aiohttp.ClientSession() as http:
            token = await login_token(http, dataclasses.replace(org, base=nodes[0].base), "admin")
            admin = {"Authorization": f"Bearer {token}"}
            queue = {"name": "lonely", "channels": ["chat"], "skills": {"klingon": 9}, "max_wait_s": 1}
            async with http.post(f"{nodes[0].base}/api/v1/queues", json=queue, headers=admin) as r:
                assert r.status == 201, await r.text()
            body = {
                "channel": "chat",
                "queue": "lonely",
                "customer": {"identity": {"type": "email", "value": "l@x.test"}},
            }
            async with http.post(
                f"{nodes[1].base}/api/v1/interactions", json=body, headers={"Authorization": f"Bearer {org.api_key}"}
            ) as r:
                assert r.status == 201, await r.text()
                lonely = (await r.json())["id"]
            deadline = asyncio.get_running_loop().time() + 15
            while asyncio.get_running_loop().time() < deadline:
                async with http.get(
                    f"{nodes[0].base}/api/v1/interactions/{lonely}", headers={"Authorization": f"Bearer {org.api_key}"}
                ) as r:
                    state = (await r.json())["state"]
                if state == "abandoned":
                    break
                await asyncio.sleep(0.2)
            assert state == "abandoned"
        for n in nodes:  # no command the cluster refused, no failed timer round, no failed emit
            assert not problems_of(n.log.read_text(), org_id), problems_of(n.log.read_text(), org_id)[:3]
    finally:
        for a in agents:
            await a.sio.disconnect()
        for n in nodes:
            n.stop()
        await redis.aclose()
        await pool.execute("DELETE FROM orgs WHERE id LIKE $1 || '-x%'", org_id)
