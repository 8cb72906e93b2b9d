"""Interaction posters in worker processes: POST /api/v1/interactions at a fixed rate or flat out.

Each post records (interaction id, time sent, time answered) with time.time(), the clock the
simulated agents use too.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from typing import Any

import aiohttp
import uvloop

from switchboard import gcpolicy

QUEUES = ("sales", "billing", "support")


async def _post(http: aiohttp.ClientSession, base: str, api_key: str, n: int, tag: str,
                out: list[tuple[str, float, float]], errors: list[str]) -> None:
    body = {"channel": "chat", "queue": QUEUES[n % len(QUEUES)],
            "customer": {"identity": {"type": "email", "value": f"c{tag}-{n}@bench.test"}}}
    t0 = time.time()
    try:
        async with http.post(f"{base}/api/v1/interactions", json=body,
                             headers={"Authorization": f"Bearer {api_key}"}) as r:
            data = await r.json()
            t1 = time.time()
            if r.status == 201:
                out.append((data["id"], t0, t1))
            else:
                errors.append(f"{r.status}: {str(data)[:200]}")
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")


async def _run(base: str, api_key: str, rate: float, duration: float, concurrency: int, start_at: float,
               tag: str) -> tuple[list[tuple[str, float, float]], list[str]]:
    out: list[tuple[str, float, float]] = []
    errors: list[str] = []
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:
        gcpolicy.settle()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        end = start_at + duration
        if rate > 0:
            # open loop: sends are scheduled at fixed times whether or not earlier ones returned
            tasks: set[asyncio.Task[None]] = set()
            n = 0
            while True:
                due = start_at + n / rate
                if due >= end:
                    break
                delay = due - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                t = asyncio.create_task(_post(http, base, api_key, n, tag, out, errors))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                n += 1
            if tasks:
                await asyncio.gather(*tasks)
        else:
            counter = iter(range(10**9))

            async def worker() -> None:
                while time.time() < end:
                    await _post(http, base, api_key, next(counter), tag, out, errors)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out, errors


def _main(base: str, api_key: str, rate: float, duration: float, concurrency: int, start_at: float, tag: str,
          conn: Any) -> None:
    conn.send(uvloop.run(_run(base, api_key, rate, duration, concurrency, start_at, tag)))


async def post_load(bases: list[str], api_key: str, *, rate: float, duration: float, procs: int, concurrency: int,
                    tag: str) -> tuple[list[tuple[str, float, float]], list[str], float]:
    """rate > 0: that many posts/s in total; rate 0: as fast as `procs` x `concurrency` posters go.
    Returns (posts, errors, start time)."""
    ctx = mp.get_context("spawn")
    start_at = time.time() + 1.5  # spawned processes need a moment to import
    pipes, ps = [], []
    for k in range(procs):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_main, args=(bases[k % len(bases)], api_key, rate / procs, duration, concurrency,
                                            start_at, f"{tag}{k}", child), daemon=True)
        p.start()
        pipes.append(parent)
        ps.append(p)
    loop = asyncio.get_running_loop()
    got = await asyncio.gather(*(loop.run_in_executor(None, pipe.recv) for pipe in pipes))
    for p in ps:
        p.join(10)
    posts = [x for g in got for x in g[0]]
    errors = [x for g in got for x in g[1]]
    return posts, errors, start_at
