"""Memory of one server process holding many idle agent sockets (each a logged-in agent).

    python -m bench.sockets [--sockets 10000] [--procs 8]

Agents connect over websocket from several client processes; the server's RSS is read from
/proc before and after. Goal: 10,000 sockets under 600 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from bench import stack
from bench.stats import machine
from bench.swarm import Swarm


@dataclass
class SocketsResult:
    sockets: int
    refused: int
    rss_before: float
    rss_after: float
    connect_s: float

    @property
    def kib_per_socket(self) -> float:
        return (self.rss_after - self.rss_before) * 1024 / self.sockets if self.sockets else float("nan")

    def lines(self) -> list[str]:
        return [
            f"idle agent sockets: {self.sockets} connected ({self.refused} refused) in {self.connect_s:.0f} s",
            f"  server RSS MiB: {self.rss_before:.0f} before, {self.rss_after:.0f} after"
            f" -> {self.kib_per_socket:.1f} KiB per socket (goal: 10,000 sockets < 600 MiB)",
        ]


async def run_sockets(n: int, procs: int, fresh: bool = True) -> SocketsResult:
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
        t = time.time()
        connected, refused = await swarm.start()
        took = time.time() - t
        await asyncio.sleep(3)  # settle: let the server finish post-connect work
        after = server.rss_mib()
    finally:
        await swarm.close()
        server.stop()
    return SocketsResult(connected, refused, before, after, took)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=10_000)
    ap.add_argument("--procs", type=int, default=8, help="client processes")
    a = ap.parse_args()
    stack.raise_nofile()
    r = asyncio.run(run_sockets(a.sockets, a.procs))
    print(machine())
    print("\n".join(r.lines()))


if __name__ == "__main__":
    main()
