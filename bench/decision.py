"""Routing decision time against queue depth, and the claim script's raw rate (the ceiling).

    python -m bench.decision [--depths 100,10000,100000] [--iterations 1000]

Two decisions are timed at each depth:
- *agent ready*: an agent becomes available (SET_STATE) and the drain offers it the head of a queue
  holding `depth` waiting interactions;
- *new interaction*: an interaction arrives (ENQUEUE) while one agent is ready, in a queue holding
  `depth` waiting interactions that agent cannot take.
Each is timed as the Redis script alone ("script") and as the Router call ("full": script, report
decoding, the PostgreSQL write of the decision and offer, metrics). The queue is filled directly
in Redis by pipelined ENQUEUE script calls. Nothing else in this benchmark touches the org, so the
numbers are the router's, not the web layer's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import redis.asyncio as aioredis

from bench import stack
from bench.stats import machine, pct
from queues.config import QueueCache, publish_queue
from queues.model import QueueConfig
from routing import scripts
from routing.router import Router
from switchboard import gcpolicy, keys, redis_conn
from switchboard.clock import SystemClock, ms
from switchboard.db import create_pool

QUEUE = QueueConfig(name="bench", channels=["chat"], skills={})
CAP = {"chat": 1}


@dataclass
class DepthResult:
    depth: int
    case: str
    script_p50: float
    script_p99: float
    full_p50: float
    full_p99: float


@dataclass
class CeilingResult:
    script_rate: float
    script_pipelined_rate: float
    full_rate: float
    full_p50: float
    full_p99: float

    @property
    def ratio(self) -> float:
        return self.full_rate / self.script_rate if self.script_rate else float("nan")


class Bench:
    def __init__(self, redis: aioredis.Redis, router: Router) -> None:
        self.redis = redis
        self.router = router
        self.s = {n: redis.register_script(getattr(scripts, n)) for n in ("ENQUEUE", "SET_STATE", "ABANDON", "LOGIN")}

    async def call(self, name: str, org_id: str, *args: Any) -> dict[str, Any]:
        raw = await self.s[name](keys=[keys.org(org_id)], args=[ms(time.time()), *args])
        return json.loads(raw)

    @staticmethod
    def enqueue_args(iid: str, required: dict[str, int], prio: int = 0) -> list[Any]:
        now = ms(time.time())
        return [now, iid, QUEUE.name, "chat", prio, now, json.dumps(required) if required else "{}", "{}", "", 0, "",
                "[]", "", "", now]

    async def fill(self, org_id: str, depth: int, required: dict[str, int]) -> None:
        """depth waiting interactions, by pipelined raw ENQUEUE calls (no agent is ready meanwhile)."""
        sha = self.s["ENQUEUE"].sha
        await self.redis.script_load(scripts.ENQUEUE)
        for start in range(0, depth, 1000):
            pipe = self.redis.pipeline(transaction=False)
            for _ in range(min(1000, depth - start)):
                pipe.evalsha(sha, 1, keys.org(org_id), *self.enqueue_args(str(uuid.uuid4()), required))
            await pipe.execute()
        assert await self.redis.zcard(keys.queue(org_id, QUEUE.name)) == depth
        await stack.settle_aof(self.redis)  # filling 100,000 entries would start a rewrite mid-samples

    async def login(self, org_id: str, agent_id: str, skills: dict[str, int], cap: dict[str, int]) -> None:
        await self.call("LOGIN", org_id, agent_id, json.dumps(skills) if skills else "{}", json.dumps(cap),
                        json.dumps([QUEUE.name]), json.dumps({QUEUE.name: 0}), "Bench Agent")


async def timed(fn: Callable[[], Awaitable[dict[str, Any]]]) -> tuple[float, dict[str, Any]]:
    t = time.perf_counter()
    r = await fn()
    return (time.perf_counter() - t) * 1000, r


async def agent_ready_case(b: Bench, depth: int, iterations: int, full: bool) -> list[float]:
    org_id = f"dec-ready-{depth}-{uuid.uuid4().hex[:6]}"
    await publish_queue(b.redis, org_id, QUEUE)
    await b.fill(org_id, depth, {})
    agent = str(uuid.uuid4())
    await b.login(org_id, agent, {}, CAP)  # a fresh login drains: takes the head
    out: list[float] = []
    for i in range(iterations + 50):
        head = await b.redis.zrange(keys.agent(org_id, agent) + ":open", 0, -1) if False else None
        # reset: not ready, give the offered interaction up, keep the depth with a new one at the tail
        await b.call("SET_STATE", org_id, agent, "not_ready", "break")
        for iid in await b.redis.smembers(keys.agent(org_id, agent) + ":open"):
            await b.call("ABANDON", org_id, iid, "customer", "")
        await b.call("ENQUEUE", org_id, *b.enqueue_args(str(uuid.uuid4()), {})[1:])
        head = (await b.redis.zrange(keys.queue(org_id, QUEUE.name), 0, 0))[0]
        if full:
            dt, r = await timed(lambda: b.router.set_state(org_id, agent, "available", None))
        else:
            dt, r = await timed(lambda: b.call("SET_STATE", org_id, agent, "available", ""))
        offers = r.get("offers") or []
        assert len(offers) == 1 and offers[0]["iid"] == head, (offers, head)
        if i >= 50:
            out.append(dt)
    assert await b.redis.zcard(keys.queue(org_id, QUEUE.name)) == depth - 1
    await drop_org(b.redis, org_id)
    return out


async def new_interaction_case(b: Bench, depth: int, iterations: int, full: bool) -> list[float]:
    org_id = f"dec-new-{depth}-{uuid.uuid4().hex[:6]}"
    await publish_queue(b.redis, org_id, QUEUE)
    await b.fill(org_id, depth, {"spanish": 9})  # waiting work this agent cannot take
    agent = str(uuid.uuid4())
    await b.login(org_id, agent, {}, CAP)
    out: list[float] = []
    for i in range(iterations + 50):
        iid = str(uuid.uuid4())
        if full:
            dt, r = await timed(partial(b.router.enqueue, org_id, interaction_id=iid, queue=QUEUE.name, channel="chat",
                                        priority=0, enqueued_ms=ms(time.time()), required={}, extra={},
                                        preferred_agent=None, preferred_until_ms=0, customer_id=None,
                                        customer_name=None, subject=None, timers=[]))
        else:
            dt, r = await timed(partial(b.call, "ENQUEUE", org_id, *b.enqueue_args(iid, {})[1:]))
        offers = r.get("offers") or []
        assert len(offers) == 1 and offers[0]["iid"] == iid and offers[0]["agent"] == agent, r
        if i >= 50:
            out.append(dt)
        await b.call("SET_STATE", org_id, agent, "not_ready", "break")
        await b.call("ABANDON", org_id, iid, "customer", "")
        await b.call("SET_STATE", org_id, agent, "available", "")
    assert await b.redis.zcard(keys.queue(org_id, QUEUE.name)) == depth
    await drop_org(b.redis, org_id)
    return out


async def drop_org(redis: aioredis.Redis, org_id: str) -> None:
    batch: list[str] = []
    async for k in redis.scan_iter(match=keys.org(org_id).replace("{", "\\{").replace("}", "\\}") + "*", count=5000):
        batch.append(k)
        if len(batch) >= 5000:
            await redis.unlink(*batch)
            batch = []
    if batch:
        await redis.unlink(*batch)


async def ceiling(b: Bench, seconds: float, concurrency: int = 64, agents: int = 100) -> CeilingResult:
    """Offers made per second by the ENQUEUE (claim) script called directly vs through the Router."""
    org_id = f"dec-ceiling-{uuid.uuid4().hex[:6]}"
    await publish_queue(b.redis, org_id, QUEUE)
    for _ in range(agents):
        await b.login(org_id, str(uuid.uuid4()), {}, {"chat": 10**9})
    made = 0
    lat: list[float] = []

    async def worker(end: float, full: bool) -> None:
        nonlocal made
        while time.perf_counter() < end:
            iid = str(uuid.uuid4())
            if full:
                t = time.perf_counter()
                r = await b.router.enqueue(
                    org_id, interaction_id=iid, queue=QUEUE.name, channel="chat", priority=0,
                    enqueued_ms=ms(time.time()), required={}, extra={}, preferred_agent=None, preferred_until_ms=0,
                    customer_id=None, customer_name=None, subject=None, timers=[])
                lat.append((time.perf_counter() - t) * 1000)
            else:
                r = await b.call("ENQUEUE", org_id, *b.enqueue_args(iid, {})[1:])
            made += len(r.get("offers") or [])

    async def rate(full: bool) -> float:
        nonlocal made
        made = 0
        end = time.perf_counter() + seconds
        await asyncio.gather(*(worker(end, full) for _ in range(concurrency)))
        return made / seconds

    script_rate = await rate(False)
    full_rate = await rate(True)
    # pipelined in hundreds: what Redis itself does when the client is not the limit
    sha = b.s["ENQUEUE"].sha
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pipe = b.redis.pipeline(transaction=False)
        for _ in range(100):
            pipe.evalsha(sha, 1, keys.org(org_id), *b.enqueue_args(str(uuid.uuid4()), {}))
        n += sum(len(json.loads(x).get("offers") or []) for x in await pipe.execute())
    pipelined = n / (time.perf_counter() - t0)
    await drop_org(b.redis, org_id)
    return CeilingResult(script_rate, pipelined, full_rate, pct(lat, 50), pct(lat, 99))


async def run_decision(depths: list[int], iterations: int, ceiling_s: float = 3.0,
                       fresh: bool = True) -> tuple[list[DepthResult], CeilingResult]:
    if fresh:
        await stack.fresh_database()
    pool = await create_pool(stack.DATABASE_URL, 2, 20)
    redis = redis_conn.connect(stack.REDIS_URL, max_connections=100)  # the server's client
    try:
        router = Router(redis, pool, SystemClock(), QueueCache(pool, redis))
        b = Bench(redis, router)
        gcpolicy.settle()  # and the server's GC settings: a full collection is not a routing decision
        results: list[DepthResult] = []
        for depth in depths:
            for case, fn in (("agent ready", agent_ready_case), ("new interaction", new_interaction_case)):
                script = await fn(b, depth, iterations, False)
                full = await fn(b, depth, iterations, True)
                results.append(DepthResult(depth, case, pct(script, 50), pct(script, 99), pct(full, 50), pct(full, 99)))
        ceil = await ceiling(b, ceiling_s)
    finally:
        await redis.aclose()
        await pool.close()
    return results, ceil


def lines(results: list[DepthResult], ceil: CeilingResult) -> list[str]:
    out = ["routing decision ms by queue depth (script = Redis script alone; full = Router call incl. PostgreSQL)",
           f"  {'case':<16} {'waiting':>8}  {'script p50':>10} {'script p99':>10}  {'full p50':>8} {'full p99':>8}"]
    for r in results:
        out.append(f"  {r.case:<16} {r.depth:>8}  {r.script_p50:>10.3f} {r.script_p99:>10.3f}"
                   f"  {r.full_p50:>8.3f} {r.full_p99:>8.3f}")
    for case in ("agent ready", "new interaction"):
        rs = [r for r in results if r.case == case]
        if len(rs) >= 2:
            lo, hi = rs[0], rs[-1]
            out.append(f"  {case}: p99 at {hi.depth} / p99 at {lo.depth} = script {hi.script_p99 / lo.script_p99:.2f},"
                       f" full {hi.full_p99 / lo.full_p99:.2f}  (goal <= 1.2)")
    out += [
        "claim script (ENQUEUE that offers) called directly vs the full Router decision, 64 concurrent callers:",
        f"  script {ceil.script_rate:.0f}/s (pipelined x100: {ceil.script_pipelined_rate:.0f}/s),"
        f" full decision {ceil.full_rate:.0f}/s (p50 {ceil.full_p50:.2f} ms, p99 {ceil.full_p99:.2f} ms),"
        f" ratio full/script {ceil.ratio:.2f}",
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depths", default="100,10000,100000")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--ceiling-seconds", type=float, default=3.0)
    a = ap.parse_args()
    results, ceil = asyncio.run(run_decision([int(x) for x in a.depths.split(",")], a.iterations, a.ceiling_seconds))
    print(machine())
    print("\n".join(lines(results, ceil)))


if __name__ == "__main__":
    main()
