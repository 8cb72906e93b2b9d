"""Round trips per routed interaction: Redis commands and PostgreSQL transactions the server makes
for one interaction from intake to wrap-up. Unlike rates, these counts do not depend on how busy the
machine is, so they show what the code costs.

    python -m bench.roundtrips [--interactions 200]

Redis commands are counted with MONITOR on the benchmark's db (client commands only, not the
commands Lua scripts run); PostgreSQL transactions from pg_stat_database of the benchmark database.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter

import asyncpg
import redis.asyncio as aioredis

from bench import stack
from bench.posters import post_load
from bench.swarm import Swarm


async def xacts() -> int:
    conn = await asyncpg.connect(stack.DATABASE_URL)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(await conn.fetchval("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname=$1",
                                       stack.BENCH_DB))
    finally:
        await conn.close()


async def run_roundtrips(n: int, agents: int = 20) -> tuple[int, Counter[str], int, float]:
    """Returns (routed, Redis commands by name, PostgreSQL transactions, seconds of the run)."""
    await stack.fresh_database()
    await stack.flush_redis()
    org = await stack.seed(agents)
    server = stack.Server(stack.free_port(), "bench-rt")
    await server.start()
    swarm = Swarm([server.base], org.tokens, 1, hold_s=0.0)
    db = int(stack.REDIS_URL.rsplit("/", 1)[1])
    counts: Counter[str] = Counter()
    try:
        await swarm.start()
        await asyncio.sleep(3)
        mon_redis = aioredis.from_url(stack.REDIS_URL.rsplit("/", 1)[0] + "/0")
        x0 = await xacts()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        async with mon_redis.monitor() as m:
            async def watch() -> None:
                async for ev in m.listen():
                    if ev.get("db") == db and not str(ev.get("client_type", "")).startswith("lua"):
                        cmd = str(ev.get("command", "")).split(" ", 1)[0].upper()
                        counts[cmd] += 1

            w = asyncio.create_task(watch())
            await post_load([server.base], org.api_key, rate=50, duration=n / 50, procs=1,
                                               concurrency=16, tag=org.id)
            await asyncio.sleep(3)
            w.cancel()
        seconds = loop.time() - t0
        x1 = await xacts()
        await mon_redis.aclose()
        result = await swarm.collect()
    finally:
        await swarm.close()
        server.stop()
    return len(result.accepted), counts, x1 - x0, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--interactions", type=int, default=200)
    a = ap.parse_args()
    routed, counts, tx, seconds = asyncio.run(run_roundtrips(a.interactions))
    total = sum(counts.values())
    print(f"{routed} interactions routed, accepted, ended and wrapped up in {seconds:.0f} s")
    print(f"  Redis commands per interaction: {total / routed:.1f} (includes background pollers over the run)")
    for cmd, c in counts.most_common(15):
        print(f"    {cmd:<12} {c / routed:6.2f}")
    print(f"  PostgreSQL transactions per interaction: {tx / routed:.1f}")


if __name__ == "__main__":
    main()
