"""Percentiles and the machine description printed with every figure."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values; NaN when empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal:")), 0)
    return f"{os.cpu_count()} cores, {cpu}, {mem / 1024 / 1024:.0f} GiB RAM, Python {platform.python_version()}"


def table(rows: list[tuple[str, str, str]]) -> str:
    """A three-column (metric, value, goal) text table."""
    head = ("metric", "measured", "goal")
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    line = "  ".join("-" * x for x in w)
    out = ["  ".join(h.ljust(w[i]) for i, h in enumerate(head)), line]
    out += ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in rows]
    return "\n".join(out)
