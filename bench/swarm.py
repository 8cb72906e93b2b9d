"""Simulated agents in worker processes: each auto-accepts offers, holds, ends and wraps up.

Every process records, per interaction id, when its `offer` arrived and when the accept was acked
(time.time(): the poster runs on the same machine, so the clocks are one), and when the server
made the offer: its `expires_at` less the queue's offer timeout (the routing script's clock, ms).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import socketio
import uvloop

from bench.stack import raise_nofile
from queues.model import QueueConfig
from switchboard import gcpolicy, jsonwire

OFFER_TIMEOUT_S = QueueConfig.model_fields["offer_timeout_s"].default  # the seeded queues keep the default


@dataclass
class SwarmResult:
    connected: int = 0
    refused: int = 0
    offers: dict[str, float] = field(default_factory=dict)
    made: dict[str, float] = field(default_factory=dict)  # when the server made the offer
    accepted: dict[str, float] = field(default_factory=dict)
    duplicate_offers: int = 0
    errors: list[str] = field(default_factory=list)


class SimAgent:
    def __init__(self, base: str, token: str, hold_s: float, result: SwarmResult, work: bool) -> None:
        self.base, self.token, self.hold_s, self.result = base, token, hold_s, result
        # orjson, like the server: the load generator shares the cores, so its JSON cost counts too
        self.sio = socketio.AsyncClient(reconnection=False, json=jsonwire)
        self.tasks: set[asyncio.Task[None]] = set()
        if work:
            self.sio.on("offer", self._on_offer, namespace="/agent")

    async def connect(self) -> bool:
        try:
            await self.sio.connect(self.base, namespaces=["/agent"], auth={"token": self.token},
                                   transports=["websocket"], wait_timeout=60)
            return True
        except socketio.exceptions.ConnectionError as e:
            self.result.errors.append(f"connect: {e}")
            return False

    async def _on_offer(self, data: dict[str, Any]) -> None:
        now = time.time()
        iid = data["interaction"]["id"]
        if iid in self.result.offers:
            self.result.duplicate_offers += 1
        self.result.offers[iid] = now
        self.result.made[iid] = datetime.fromisoformat(data["expires_at"]).timestamp() - OFFER_TIMEOUT_S
        t = asyncio.create_task(self._work(iid, data["offer_id"]))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def _call(self, event: str, body: dict[str, Any]) -> Any:
        """An acknowledged event, like ``sio.call`` but on one future: ``call`` adds an Event, a task
        and ``wait_for`` per event, and the load generator's CPU comes out of the server's two cores."""
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(*args: Any) -> None:
            if not ack.done():
                ack.set_result(args[0] if len(args) == 1 else args)

        await self.sio.emit(event, body, namespace="/agent", callback=done)
        async with asyncio.timeout(30):
            return await ack

    async def _work(self, iid: str, offer_id: str) -> None:
        try:
            ack = await self._call("offer:accept", {"offer_id": offer_id})
            if not ack.get("ok"):
                self.result.errors.append(f"accept: {ack}")
                return
            self.result.accepted[iid] = time.time()
            if self.hold_s:
                await asyncio.sleep(self.hold_s)
            for event, body in (("interaction:end", {"interaction_id": iid}),
                                ("interaction:wrap_up", {"interaction_id": iid, "code": "resolved"})):
                ack = await self._call(event, body)
                if not ack.get("ok"):
                    self.result.errors.append(f"{event}: {ack}")
        except Exception as e:  # a benchmark records failures rather than dying on the first
            self.result.errors.append(f"{type(e).__name__}: {e}")


async def _swarm(bases: list[str], tokens: list[str], hold_s: float, work: bool, conn: Any, parallel: int) -> None:
    result = SwarmResult()
    agents = [SimAgent(bases[i % len(bases)], t, hold_s, result, work) for i, t in enumerate(tokens)]
    sem = asyncio.Semaphore(parallel)

    async def connect(a: SimAgent) -> bool:
        async with sem:
            return await a.connect()

    ok = await asyncio.gather(*(connect(a) for a in agents))
    result.connected = sum(ok)
    result.refused = len(ok) - result.connected
    gcpolicy.settle()  # the load generator gets the server's GC settings: it shares the cores
    conn.send(("ready", result.connected, result.refused))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # "stop"
    # let in-flight work finish before reporting
    for _ in range(100):
        if not any(a.tasks for a in agents):
            break
        await asyncio.sleep(0.1)
    conn.send(("result", result))
    await loop.run_in_executor(None, conn.recv)  # "disconnect"
    await asyncio.gather(*(a.sio.disconnect() for a in agents), return_exceptions=True)
    conn.send(("closed",))


def _main(bases: list[str], tokens: list[str], hold_s: float, work: bool, conn: Any, parallel: int) -> None:
    raise_nofile()
    for name in ("engineio", "socketio"):  # one "packet queue is empty" line per disconnect otherwise
        logging.getLogger(name).setLevel(logging.CRITICAL)
    uvloop.run(_swarm(bases, tokens, hold_s, work, conn, parallel))  # the server runs on uvloop too


class Swarm:
    """N simulated agents spread over `procs` worker processes (and round-robin over server bases)."""

    def __init__(self, bases: list[str], tokens: list[str], procs: int, hold_s: float = 0.0, work: bool = True,
                 parallel: int = 50) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Any] = []
        self.procs: list[Any] = []
        for k in range(procs):
            mine = tokens[k::procs]
            if not mine:
                continue
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_main, args=(bases, mine, hold_s, work, child, parallel), daemon=True)
            self.pipes.append(parent)
            self.procs.append(p)

    async def _recv(self, pipe: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    async def start(self) -> tuple[int, int]:
        """Start the processes and wait until every agent has connected (or been refused)."""
        for p in self.procs:
            p.start()
        got = await asyncio.gather(*(self._recv(pipe) for pipe in self.pipes))
        return sum(g[1] for g in got), sum(g[2] for g in got)

    async def collect(self) -> SwarmResult:
        for pipe in self.pipes:
            pipe.send("stop")
        parts = [g[1] for g in await asyncio.gather(*(self._recv(pipe) for pipe in self.pipes))]
        total = SwarmResult()
        for r in parts:
            total.connected += r.connected
            total.refused += r.refused
            total.duplicate_offers += r.duplicate_offers + len(total.offers.keys() & r.offers.keys())
            total.offers.update(r.offers)
            total.made.update(r.made)
            total.accepted.update(r.accepted)
            total.errors += r.errors
        return total

    async def close(self) -> None:
        for pipe in self.pipes:
            pipe.send("disconnect")
        await asyncio.gather(*(self._recv(pipe) for pipe in self.pipes), return_exceptions=True)
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()
