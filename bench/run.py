"""Every benchmark with its default parameters, then one summary table (`make bench`).

    python -m bench.run [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import stack
from bench.decision import lines as decision_lines
from bench.decision import run_decision
from bench.e2e import run_e2e
from bench.sockets import run_sockets
from bench.stats import machine, table


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[0]


async def main(quick: bool) -> None:
    duration = 5.0 if quick else 10.0
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {machine()}  load average at start {loadavg()}", flush=True)
    at_rate = await run_e2e(rate=500, agents=300, duration=duration, hold_s=0.5)
    print("\n".join(at_rate.lines()), flush=True)
    flat_out = await run_e2e(rate=0, agents=1000, duration=duration, hold_s=0.5, post_procs=2)
    print("\n".join(flat_out.lines()), flush=True)
    depths = [100, 10_000] if quick else [100, 10_000, 100_000]
    decisions, ceil = await run_decision(depths, 300 if quick else 1000)
    print("\n".join(decision_lines(decisions, ceil)), flush=True)
    socks = await run_sockets(2_000 if quick else 10_000, 8)
    print("\n".join(socks.lines()), flush=True)

    def p99(case: str, depth: int) -> float:
        return next(r.full_p99 for r in decisions if r.case == case and r.depth == depth)

    deep = depths[-1]
    rows = [
        ("routed/s end to end, 1,000 agents, flat out", f"{flat_out.routed_rate:.0f}/s", ">= 1,500/s"),
        ("intake->offer p99 at 500/s posted", f"{at_rate.offer_p99:.1f} ms (routed {at_rate.routed_rate:.0f}/s)",
         "<= 25 ms"),
        ("intake->offer p50 / p95 at 500/s", f"{at_rate.offer_p50:.1f} / {at_rate.offer_p95:.1f} ms", ""),
        ("POST p50 / p99 at 500/s", f"{at_rate.post_p50:.1f} / {at_rate.post_p99:.1f} ms", ""),
        ("server CPU per routed interaction", f"{flat_out.cpu_ms_per_routed:.2f} ms"
         f" (= {1000 / flat_out.cpu_ms_per_routed:.0f}/s per core)", "<= 0.67 ms for 1,500/s"),
    ]
    for case in ("agent ready", "new interaction"):
        rows.append((f"decision p99 {case}, {deep} vs 100 waiting",
                     f"{p99(case, deep):.2f} vs {p99(case, 100):.2f} ms (x{p99(case, deep) / p99(case, 100):.2f})",
                     "<= x1.2"))
    rows += [
        ("claim script direct (ceiling)", f"{ceil.script_rate:.0f}/s", ""),
        ("full decision (Router)", f"{ceil.full_rate:.0f}/s (x{ceil.ratio:.2f} of ceiling)", ""),
        ("e2e flat out / claim ceiling", f"x{flat_out.routed_rate / ceil.script_rate:.3f}", ""),
        (f"RSS, {socks.sockets} idle agent sockets", f"{socks.rss_after:.0f} MiB ({socks.kib_per_socket:.1f} KiB each)",
         "< 600 MiB at 10,000"),
    ]
    print()
    print(table(rows))
    print(f"load average at end {loadavg()}")


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs, 2,000 sockets, depths up to 10,000")
    a = ap.parse_args()
    stack.raise_nofile()
    t = time.time()
    asyncio.run(main(a.quick))
    print(f"(bench.run took {time.time() - t:.0f} s)")


if __name__ == "__main__":
    cli()
