"""A scripted contact center for fault injection: isolated stores, server processes, agents that
reconnect to any live node, and posters that retry 503s with the same Idempotency-Key."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from harness import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "deploy" / "local" / "services.sh"


@dataclass
class Stores:
    """A Redis and a PostgreSQL of the test's own, so restarting them disturbs nobody else."""

    run_dir: Path
    redis_port: int = field(default_factory=free_port)
    pg_port: int = field(default_factory=free_port)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SWITCHBOARD_RUN_DIR": str(self.run_dir),
            "SWITCHBOARD_REDIS_PORT": str(self.redis_port),
            "SWITCHBOARD_PG_PORT": str(self.pg_port),
            "SWITCHBOARD_PG_FAST": "1",
        }

    def _svc(self, *args: str) -> None:
        subprocess.run(["bash", str(SERVICES), *args], check=True, env=self.env(), capture_output=True)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/switchboard"

    def start(self) -> None:
        self._svc("start")

    def stop(self) -> None:
        self._svc("stop")

    def restart_redis(self) -> None:
        self.stop_redis()
        self.start_redis()

    def stop_redis(self) -> None:
        self._svc("stop-redis")

    def start_redis(self) -> None:
        self._svc("start-redis")

    def stop_pg(self) -> None:
        self._svc("stop-pg")

    def start_pg(self) -> None:
        self._svc("start-pg")


class Agent:
    """Accepts offers, holds briefly, ends and wraps up; after a drop it reconnects to a live node
    and finishes whatever the server's session snapshot says is still its own."""

    def __init__(self, name: str, token: str, nodes: list[str], hold_s: float = 0.2) -> None:
        self.name, self.token, self.nodes, self.hold_s = name, token, nodes, hold_s
        self.sio: socketio.AsyncClient | None = None
        self.node = 0
        self.completed: list[str] = []
        self.reconnects = 0
        self.ronas = 0
        self.stopping = False
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.first_offer_after: dict[str, float] = {}

    def _spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def connect(self, node: int | None = None) -> None:
        if node is not None:
            self.node = node
        for attempt in itertools.count():
            sio = socketio.AsyncClient(reconnection=False)
            sio.on("offer", lambda d: self._spawn(self._offer(d)), namespace="/agent")
            sio.on("session", lambda d: self._spawn(self._session(d)), namespace="/agent")
            sio.on("disconnect", lambda *a: self._spawn(self._dropped()), namespace="/agent")
            sio.on("agent:state", lambda d: self._spawn(self._state(d)), namespace="/agent")
            try:
                await sio.connect(
                    self.nodes[self.node],
                    namespaces=["/agent"],
                    auth={"token": self.token},
                    transports=["websocket"],
                    wait_timeout=5,
                )
                self.sio = sio
                return
            except Exception:
                self.node = (self.node + 1) % len(self.nodes)
                if attempt > 50:
                    raise
                await asyncio.sleep(0.2)

    async def _dropped(self) -> None:
        if self.stopping:
            return
        self.reconnects += 1
        self.node = (self.node + 1) % len(self.nodes)
        await asyncio.sleep(0.1)
        await self.connect()

    async def _call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        sio = self.sio
        if sio is None:
            return {"ok": False}
        try:
            return await sio.call(event, data, namespace="/agent", timeout=5)  # type: ignore[no-any-return]
        except Exception:
            return {"ok": False}

    async def _offer(self, data: dict[str, Any]) -> None:
        ack = await self._call("offer:accept", {"offer_id": data["offer_id"]})
        if ack.get("ok"):
            await self._finish(data["interaction"]["id"])

    async def _finish(self, iid: str) -> None:
        if iid in self._busy:
            return
        self._busy.add(iid)
        try:
            await asyncio.sleep(self.hold_s * random.random())
            # keep trying through a dropped socket or a dead node until the server gives a verdict
            for _ in range(40):
                end = await self._call("interaction:end", {"interaction_id": iid})
                code = end.get("error", {}).get("code")
                if end.get("ok") or code == "invalid_state":
                    wrap = await self._call("interaction:wrap_up", {"interaction_id": iid, "code": "resolved"})
                    wcode = wrap.get("error", {}).get("code")
                    if wrap.get("ok"):
                        self.completed.append(iid)
                        return
                    if wcode in ("invalid_state", "forbidden", "not_found"):
                        return
                elif code in ("forbidden", "not_found"):
                    return
                await asyncio.sleep(0.25)
        finally:
            self._busy.discard(iid)

    async def _state(self, data: dict[str, Any]) -> None:
        """Like a person back at the desk: after a missed offer (RONA) the agent goes available again."""
        if data.get("state") == "not_ready" and data.get("idle_code") == "rona":
            self.ronas += 1
            await asyncio.sleep(0.2)
            await self._call("state:set", {"state": "available"})

    async def _session(self, data: dict[str, Any]) -> None:
        if data.get("state") == "not_ready" and data.get("idle_code") == "rona":
            self._spawn(self._state(data))
        for o in data.get("offers") or []:
            self._spawn(self._offer(o))
        for i in data.get("interactions") or []:
            self._spawn(self._finish(i["id"]))

    async def close(self) -> None:
        self.stopping = True
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await self.sio.disconnect()


@dataclass
class Poster:
    """Posts interactions; a 503 or a dropped connection is retried with the same Idempotency-Key."""

    nodes: list[str]
    api_key: str
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> interaction id
    unavailable: int = 0
    errors: list[str] = field(default_factory=list)

    async def post_one(self, http: aiohttp.ClientSession, queue: str) -> None:
        key = uuid.uuid4().hex
        body = {
            "channel": "chat",
            "queue": queue,
            "customer": {"identity": {"type": "email", "value": f"{key[:8]}@faults.test"}},
        }
        for attempt in range(200):
            base = self.nodes[(attempt + hash(key)) % len(self.nodes)]
            try:
                async with http.post(
                    f"{base}/api/v1/interactions",
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=5),
                    headers={"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": key},
                ) as r:
                    if r.status in (200, 201):
                        iid = (await r.json())["id"]
                        prev = self.accepted.setdefault(key, iid)
                        assert prev == iid, "one Idempotency-Key gave two interactions"
                        return
                    if r.status == 503:
                        assert r.headers.get("Retry-After"), "503 without Retry-After"
                        self.unavailable += 1
                    else:
                        self.errors.append(f"{r.status} {await r.text()}")
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
        self.errors.append(f"gave up on {key}")

    async def run(self, http: aiohttp.ClientSession, count: int, rate: float, queues: list[str]) -> None:
        tasks = []
        for i in range(count):
            tasks.append(asyncio.create_task(self.post_one(http, queues[i % len(queues)])))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)


async def wait_until(pred: Any, timeout: float, every: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():
            return True
        await asyncio.sleep(every)
    return bool(await pred())
