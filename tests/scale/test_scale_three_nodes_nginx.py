"""Three `switchboard serve` processes behind Debian's nginx (deploy/nginx/local-three-nodes.conf):
agents connect through nginx (websocket upgrade) and land on different nodes, and every interaction
is posted straight to a node that holds none of the target agent's sockets — each offer still
reaches its agent exactly once and is accepted once."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import socketio
from harness import free_port, login_token
from procs import ROOT, ServerProcess

from agents.store import create_user
from switchboard import keys
from web.auth import hash_password

pytestmark = pytest.mark.slow
NGINX = "/usr/sbin/nginx"
CONF = ROOT / "deploy" / "nginx" / "local-three-nodes.conf"
AGENTS_PER_NODE = 2
ROUNDS = 3  # interactions per agent


def ensure_nginx() -> None:
    if Path(NGINX).exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "nginx"], check=False,
                       capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=300)
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx); deploy/local/bootstrap.sh should install it")


def nginx_conf(run_dir: str, listen: int, ports: list[int]) -> str:
    """The shipped config with this run's directory and ports in place of 8180 and 8181-8183."""
    text = CONF.read_text().replace("__RUN_DIR__", run_dir)
    text = text.replace("listen 127.0.0.1:8180;", f"listen 127.0.0.1:{listen};")
    for default, port in zip((8181, 8182, 8183), ports, strict=True):
        text = text.replace(f"127.0.0.1:{default} ", f"127.0.0.1:{port} ")
    assert f":{listen};" in text and all(f":{p} " in text for p in ports)
    return text


@pytest.fixture
async def cluster(database_url: str, redis_url: str) -> AsyncIterator[tuple[str, list[ServerProcess]]]:
    ensure_nginx()
    nodes = [ServerProcess(database_url, redis_url, f"ngx{i + 1}") for i in range(3)]
    run_dir = tempfile.mkdtemp(prefix="sb-nginx-")
    os.chmod(run_dir, 0o777)  # nginx workers run as an unprivileged user when started by root
    listen = free_port()
    conf = Path(run_dir) / "nginx.conf"
    conf.write_text(nginx_conf(run_dir, listen, [n.port for n in nodes]))
    proc: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.gather(*(n.start() for n in nodes))
        check = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", run_dir], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", run_dir, "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{listen}"
        async with aiohttp.ClientSession() as s:
            for _ in range(100):
                try:
                    async with s.get(base + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        yield base, nodes
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        for n in nodes:
            n.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


async def upstream_for(http: aiohttp.ClientSession, base: str, forwarded_for: str) -> int:
    """The node port nginx picks for a Socket.IO request from this client address."""
    async with http.get(f"{base}/socket.io/?EIO=4&transport=polling", headers={"X-Forwarded-For": forwarded_for}) as r:
        assert r.status == 200, await r.text()
        m = re.search(r":(\d+)$", r.headers["X-Switchboard-Upstream"])
        assert m, r.headers["X-Switchboard-Upstream"]
        return int(m.group(1))


class Desk:
    """An agent desktop connected through nginx that accepts every offer."""

    def __init__(self, local: str, agent_id: str) -> None:
        self.local, self.agent_id = local, agent_id
        self.sio = socketio.AsyncClient(reconnection=False)
        self.offers: list[str] = []
        self.accepted: list[str] = []
        self.errors: list[object] = []
        self.sio.on("offer", self._on_offer, namespace="/agent")

    async def _on_offer(self, data: dict) -> None:  # type: ignore[type-arg]
        iid = data["interaction"]["id"]
        self.offers.append(iid)
        asyncio.get_running_loop().create_task(self._accept(iid, data["offer_id"]))

    async def _accept(self, iid: str, offer_id: str) -> None:
        ack = await self.sio.call("offer:accept", {"offer_id": offer_id}, namespace="/agent", timeout=10)
        if not ack.get("ok"):
            self.errors.append(ack)
            return
        self.accepted.append(iid)
        for event, body in (("interaction:end", {"interaction_id": iid}),
                            ("interaction:wrap_up", {"interaction_id": iid, "code": "resolved"})):
            ack = await self.sio.call(event, body, namespace="/agent", timeout=10)
            if not ack.get("ok"):
                self.errors.append(ack)


async def test_agents_on_three_nodes_get_offers_routed_by_other_nodes(cluster, org, pool, redis):
    base, nodes = cluster
    by_port = {n.port: n for n in nodes}
    pw = hash_password("switchboard")
    desks: list[Desk] = []
    try:
        async with aiohttp.ClientSession() as http:
            # client addresses that nginx hashes onto each node, AGENTS_PER_NODE of each
            chosen: dict[int, list[str]] = {p: [] for p in by_port}
            for i in range(1, 255):
                xff = f"10.1.0.{i}"
                port = await upstream_for(http, base, xff)
                if len(chosen[port]) < AGENTS_PER_NODE:
                    chosen[port].append(xff)
                if all(len(v) == AGENTS_PER_NODE for v in chosen.values()):
                    break
            assert all(len(v) == AGENTS_PER_NODE for v in chosen.values()), chosen
            via_nginx = dataclasses.replace(org, base=base)
            answered_by: set[str] = set()
            placements: list[tuple[Desk, int]] = []
            for k, (port, addrs) in enumerate(sorted(chosen.items())):
                for j, xff in enumerate(addrs):
                    local = f"ngx{k}{j}"
                    # a skill of its own, so an interaction asking for it can only go to this agent
                    row = await create_user(pool, org.id, email=org.email(local), password_hash=pw, role="agent",
                                            display_name=f"Nginx {k}{j}", skills={"sales": 1, f"only_{local}": 5})
                    desk = Desk(local, str(row["id"]))
                    async with http.post(f"{base}/api/v1/auth/login",
                                         json={"email": org.email(local), "password": "switchboard"}) as r:
                        assert r.status == 200, await r.text()
                        answered_by.add(r.headers["X-Switchboard-Upstream"])
                        token = (await r.json())["token"]
                    await desk.sio.connect(base, namespaces=["/agent"], auth={"token": token},
                                           transports=["websocket"], headers={"X-Forwarded-For": xff},
                                           wait_timeout=10)
                    desks.append(desk)
                    placements.append((desk, port))
            assert len(answered_by) > 1, answered_by  # REST is balanced over the nodes
            assert await login_token(http, via_nginx, "supervisor")

            # each agent's socket is on the node nginx hashed it to, and only there
            for desk, port in placements:
                held = await redis.hgetall(keys.agent_sockets(org.id, desk.agent_id))
                assert held == {by_port[port].env["SWITCHBOARD_NODE_ID"]: "1"}, (desk.local, held)

            # post each agent's interactions directly to the two nodes that do not hold its socket
            expected: dict[str, str] = {}
            for r_ in range(ROUNDS):
                for desk, port in placements:
                    others = [n for n in nodes if n.port != port]
                    target = others[r_ % 2]
                    body = {"channel": "chat", "queue": "sales", "skills": {f"only_{desk.local}": 1},
                            "customer": {"identity": {"type": "email", "value": f"{desk.local}-{r_}@x.test"}}}
                    async with http.post(f"{target.base}/api/v1/interactions", json=body,
                                         headers={"Authorization": f"Bearer {org.api_key}"}) as r:
                        assert r.status == 201, await r.text()
                        expected[(await r.json())["id"]] = desk.local
            deadline = asyncio.get_running_loop().time() + 20
            while asyncio.get_running_loop().time() < deadline:
                done = await pool.fetchval(
                    "SELECT count(*) FROM interactions WHERE org_id=$1 AND state='completed' AND id = ANY($2::uuid[])",
                    org.id, list(expected))
                if done == len(expected):
                    break
                await asyncio.sleep(0.2)
            assert done == len(expected)
        offered = Counter(i for d in desks for i in d.offers)
        accepted = Counter(i for d in desks for i in d.accepted)
        assert set(offered) == set(expected) and set(offered.values()) == {1}, offered
        assert set(accepted) == set(expected) and set(accepted.values()) == {1}, accepted
        for d in desks:
            assert sorted(d.accepted) == sorted(i for i, who in expected.items() if who == d.local)
            assert not d.errors, d.errors
    finally:
        for d in desks:
            await d.sio.disconnect()
