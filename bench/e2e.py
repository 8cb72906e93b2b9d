"""End-to-end load: N simulated agents, interactions posted at a rate (or flat out), routed and accepted.

    python -m bench.e2e --rate 500 --agents 200 --duration 20
    python -m bench.e2e --max --agents 1000 --duration 20

Prints routed interactions/s (intake -> offered -> accepted), intake->offer p50/p95/p99 measured on the
client side (POST sent -> the agent's `offer` event, matched by interaction id) and split at the moment
the server made the offer (its routing script's clock), POST latency, server RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench import cpu as boxcpu
from bench import stack
from bench.posters import post_load
from bench.stats import machine, pct
from bench.swarm import Swarm


@dataclass
class E2EResult:
    mode: str
    agents: int
    nodes: int
    duration: float
    posted: int
    post_errors: int
    intake_rate: float
    routed_rate: float
    offered: int
    accepted: int
    duplicate_offers: int
    agent_errors: int
    offer_p50: float
    offer_p95: float
    offer_p99: float
    made_ms: tuple[float, float, float]  # POST sent -> offer made by the server: p50, p95, p99
    delivered_ms: tuple[float, float, float]  # offer made -> the agent's `offer` event
    post_p50: float
    post_p99: float
    rss_mib: list[float]
    cpu_ms_per_routed: float
    load_avg: str
    box_ms: dict[str, float]

    def lines(self) -> list[str]:
        return [
            f"e2e {self.mode}: {self.agents} agents, {self.nodes} node(s), {self.duration:.0f} s of posting",
            f"  posted {self.posted} ({self.intake_rate:.0f}/s), post errors {self.post_errors}",
            f"  routed end to end (offered and accepted): {self.accepted} -> {self.routed_rate:.0f}/s",
            f"  offers {self.offered}, duplicate offers {self.duplicate_offers}, agent errors {self.agent_errors}",
            f"  intake->offer ms  p50 {self.offer_p50:.1f}  p95 {self.offer_p95:.1f}  p99 {self.offer_p99:.1f}",
            "    of which POST sent->offer made  p50 {:.1f}  p95 {:.1f}  p99 {:.1f}".format(*self.made_ms),
            "    and offer made->agent has it    p50 {:.1f}  p95 {:.1f}  p99 {:.1f}".format(*self.delivered_ms),
            f"  POST ms           p50 {self.post_p50:.1f}  p99 {self.post_p99:.1f}",
            f"  server RSS MiB    {', '.join(f'{r:.0f}' for r in self.rss_mib)}",
            f"  server CPU per routed interaction (intake..wrap-up): {self.cpu_ms_per_routed:.2f} ms"
            f" -> {1000 / self.cpu_ms_per_routed:.0f}/s per fully used core; load average {self.load_avg}",
            "  whole-box CPU per routed interaction, ms: "
            + ", ".join(f"{g} {v:.2f}" for g, v in self.box_ms.items()),
        ] + ([
            # only flat out: at a set rate the box idles between batches and the figure means little
            f"  -> with this load generator, {os.cpu_count()} fully used cores route at most"
            f" {1000 * (os.cpu_count() or 1) / max(self.box_ms['total'], 1e-9):.0f}/s",
        ] if self.mode == "max" else [])


async def run_e2e(*, rate: float, agents: int, duration: float, hold_s: float, nodes: int = 1, agent_procs: int = 4,
                  post_procs: int = 1, concurrency: int = 64, fresh: bool = True,
                  profile_s: float = 0.0) -> E2EResult:
    if fresh:
        await stack.fresh_database()
        await stack.flush_redis()
    org = await stack.seed(agents)
    servers = [stack.Server(stack.free_port(), f"bench{i + 1}") for i in range(nodes)]
    await asyncio.gather(*(s.start() for s in servers))
    bases = [s.base for s in servers]
    swarm = Swarm(bases, org.tokens, agent_procs, hold_s=hold_s)
    try:
        connected, refused = await swarm.start()
        if refused:
            raise RuntimeError(f"{refused} agents could not connect")
        profiler = None
        if profile_s:
            profiler = await asyncio.create_subprocess_exec(
                str(stack.ROOT / ".venv" / "bin" / "py-spy"), "record", "-f", "raw",
                "-o", str(stack.ROOT / "test-artifacts" / "bench-profile.txt"),
                "--pid", str(servers[0].pid), "-d", str(int(profile_s)), "--nonblocking")
        cpu0 = sum(s.cpu_s() for s in servers)
        box0 = boxcpu.snapshot({s.pid for s in servers})
        posts, errors, t0 = await post_load(bases, org.api_key, rate=rate, duration=duration, procs=post_procs,
                                            concurrency=concurrency, tag=org.id)
        await asyncio.sleep(max(1.0, hold_s * 2))  # the last offers arrive and are accepted
        rss = [s.rss_mib() for s in servers]
        result = await swarm.collect()
        cpu = sum(s.cpu_s() for s in servers) - cpu0
        box = boxcpu.spent(box0, boxcpu.snapshot({s.pid for s in servers}))
        load = Path("/proc/loadavg").read_text().split(" ", 1)[0]
        if profiler:
            await profiler.wait()
    finally:
        await swarm.close()
        for s in servers:
            s.stop()
    sent = {iid: (a, b) for iid, a, b in posts}
    offer_ms = [(result.offers[i] - sent[i][0]) * 1000 for i in sent if i in result.offers]
    made_ms = [(result.made[i] - sent[i][0]) * 1000 for i in sent if i in result.made]
    delivered_ms = [(result.offers[i] - result.made[i]) * 1000 for i in sent if i in result.made]
    post_ms = [(b - a) * 1000 for a, b in sent.values()]
    end = t0 + duration
    accepted_in = sum(1 for i, t in result.accepted.items() if t <= end and i in sent)
    return E2EResult(
        mode=f"rate {rate:.0f}/s" if rate else "max", agents=connected, nodes=nodes, duration=duration,
        posted=len(posts), post_errors=len(errors), intake_rate=len(posts) / duration,
        routed_rate=accepted_in / duration, offered=len(result.offers), accepted=len(result.accepted),
        duplicate_offers=result.duplicate_offers, agent_errors=len(result.errors),
        offer_p50=pct(offer_ms, 50), offer_p95=pct(offer_ms, 95), offer_p99=pct(offer_ms, 99),
        made_ms=(pct(made_ms, 50), pct(made_ms, 95), pct(made_ms, 99)),
        delivered_ms=(pct(delivered_ms, 50), pct(delivered_ms, 95), pct(delivered_ms, 99)),
        post_p50=pct(post_ms, 50), post_p99=pct(post_ms, 99), rss_mib=rss,
        cpu_ms_per_routed=cpu * 1000 / max(1, len(result.accepted)), load_avg=load,
        box_ms={g: v * 1000 / max(1, len(result.accepted)) for g, v in box.items()},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--rate", type=float, default=500.0, help="interactions posted per second (open loop)")
    mode.add_argument("--max", action="store_true", help="post as fast as the posters go")
    ap.add_argument("--agents", type=int, default=None, help="simulated agents (default 300 at a rate, 1000 at max)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of posting")
    ap.add_argument("--hold", type=float, default=0.5, help="seconds an agent holds a conversation")
    ap.add_argument("--nodes", type=int, default=1, help="server processes")
    ap.add_argument("--agent-procs", type=int, default=4)
    ap.add_argument("--post-procs", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=64, help="concurrent posts per poster process")
    ap.add_argument("--profile", type=float, default=0.0, help="py-spy record the (first) server for N seconds")
    a = ap.parse_args()
    stack.raise_nofile()
    rate = 0.0 if a.max else a.rate
    agents = a.agents or (1000 if a.max else 300)
    post_procs = a.post_procs or (2 if a.max else 1)
    t = time.time()
    r = asyncio.run(run_e2e(rate=rate, agents=agents, duration=a.duration, hold_s=a.hold, nodes=a.nodes,
                            agent_procs=a.agent_procs, post_procs=post_procs, concurrency=a.concurrency,
                            profile_s=a.profile))
    print(machine())
    print("\n".join(r.lines()))
    print(f"  (whole run {time.time() - t:.0f} s)")


if __name__ == "__main__":
    main()
