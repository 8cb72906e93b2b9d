"""Memory of one server process holding many idle agent sockets (each a logged-in agent).

    python -m bench.sockets [--sockets 10000] [--procs 8]

Agents connect over websocket from several client processes; the server's RSS is read from
/proc before and after. Goal: 10,000 sockets under 600 MiB. Also printed: logins per second and
the server's CPU per login over the connect phase (the figure to compare across runs on a busy box).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from bench import stack
from bench.roundtrips import xacts
from bench.stats import machine
from bench.swarm import Swarm


@dataclass
class SocketsResult:
    sockets: int
    refused: int
    rss_before: float
    rss_after: float
    connect_s: float
    cpu_s: float
    redis_cmds: Counter[str] = field(default_factory=Counter)
    pg_xacts: int | None = None

    @property
    def logins_per_s(self) -> float:
        return self.sockets / self.connect_s if self.connect_s else float("nan")

    @property
    def cpu_ms_per_login(self) -> float:
        return self.cpu_s * 1000 / self.sockets if self.sockets else float("nan")

    @property
    def kib_per_socket(self) -> float:
        return (self.rss_after - self.rss_before) * 1024 / self.sockets if self.sockets else float("nan")

    def lines(self) -> list[str]:
        return [
            f"idle agent sockets: {self.sockets} connected ({self.refused} refused) in {self.connect_s:.0f} s",
            f"  logins: {self.logins_per_s:.0f}/s (includes starting the client processes),"
            f" server CPU {self.cpu_ms_per_login:.2f} ms per login",
            f"  server RSS MiB: {self.rss_before:.0f} before, {self.rss_after:.0f} after"
            f" -> {self.kib_per_socket:.1f} KiB per socket (goal: 10,000 sockets < 600 MiB)",
            *self._roundtrip_lines(),
        ]

    def _roundtrip_lines(self) -> list[str]:
        if self.pg_xacts is None or not self.sockets:
            return []
        n = self.sockets
        total = sum(self.redis_cmds.values())
        return [
            f"  per login: {total / n:.1f} Redis commands, {self.pg_xacts / n:.2f} PostgreSQL transactions"
            " (includes background work over the connect phase)",
            *(f"    {cmd:<12} {c / n:6.2f}" for cmd, c in self.redis_cmds.most_common(12)),
        ]


async def run_sockets(
    n: int, procs: int, fresh: bool = True, roundtrips: bool = False, profile: bool = False
) -> SocketsResult:
    if fresh:
        await stack.fresh_database()
        await stack.flush_redis()
    org = await stack.seed(n, seats=2 * n)
    server = stack.Server(stack.free_port(), "bench-sockets")
    await server.start()
    swarm = Swarm([server.base], org.tokens, procs, work=False, parallel=25)
    try:
        await asyncio.sleep(1)
        before = server.rss_mib()
        cpu = server.cpu_s()
        counts: Counter[str] = Counter()
        x0 = await xacts() if roundtrips else 0
        profiler = await start_profiler(server.pid) if profile else None
        t = time.time()
        if roundtrips:
            async with count_commands(counts):
                connected, refused = await swarm.start()
        else:
            connected, refused = await swarm.start()
        took = time.time() - t
        cpu = server.cpu_s() - cpu
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
            await profiler.wait()
        x1 = await xacts() if roundtrips else None
        await asyncio.sleep(3)  # settle: let the server finish post-connect work
        after = server.rss_mib()
    finally:
        await swarm.close()
        server.stop()
    return SocketsResult(connected, refused, before, after, took, cpu, counts, None if x1 is None else x1 - x0)


async def start_profiler(pid: int) -> asyncio.subprocess.Process:
    """py-spy over the connect phase → test-artifacts/bench-sockets-profile.txt (collapsed stacks)."""
    return await asyncio.create_subprocess_exec(
        str(stack.ROOT / ".venv" / "bin" / "py-spy"),
        "record",
        "-f",
        "raw",
        "-o",
        str(stack.ROOT / "test-artifacts" / "bench-sockets-profile.txt"),
        "--pid",
        str(pid),
        "--nonblocking",
    )


@contextlib.asynccontextmanager
async def count_commands(counts: Counter[str]) -> AsyncIterator[None]:
    """Count the client commands sent to the benchmark's Redis db (MONITOR; Lua's own calls excluded)."""
    db = int(stack.REDIS_URL.rsplit("/", 1)[1])
    mon_redis = aioredis.from_url(stack.REDIS_URL.rsplit("/", 1)[0] + "/0")
    async with mon_redis.monitor() as m:

        async def watch() -> None:
            async for ev in m.listen():
                if ev.get("db") == db and not str(ev.get("client_type", "")).startswith("lua"):
                    counts[str(ev.get("command", "")).split(" ", 1)[0].upper()] += 1

        w = asyncio.create_task(watch())
        try:
            yield
            await asyncio.sleep(1)
        finally:
            w.cancel()
    await mon_redis.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=10_000)
    ap.add_argument("--procs", type=int, default=8, help="client processes")
    ap.add_argument(
        "--own-db",
        action="store_true",
        help="use database switchboard_bench_sockets and Redis db 7, so another benchmark running"
        " at the same time (which drops switchboard_bench) does not pull the floor away",
    )
    ap.add_argument(
        "--roundtrips",
        action="store_true",
        help="also count Redis commands (MONITOR) and PostgreSQL transactions per login; slows Redis",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the server over the connect phase -> test-artifacts/bench-sockets-profile.txt",
    )
    a = ap.parse_args()
    if a.own_db:
        stack.BENCH_DB = "switchboard_bench_sockets"
        stack.DATABASE_URL = stack.ADMIN_URL.rsplit("/", 1)[0] + "/" + stack.BENCH_DB
        stack.REDIS_URL = stack.REDIS_URL.rsplit("/", 1)[0] + "/7"
    stack.raise_nofile()
    r = asyncio.run(run_sockets(a.sockets, a.procs, roundtrips=a.roundtrips, profile=a.profile))
    print(machine())
    print("\n".join(r.lines()))


if __name__ == "__main__":
    main()
