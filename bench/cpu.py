"""Where the box's CPU goes during a run: the server(s), the load generator, Redis, PostgreSQL.

The goals are stated for one 2-core box that also runs the load generator, Redis and PostgreSQL, so
the whole box's CPU per routed interaction bounds the rate any server could reach on it:
``cores / total CPU per interaction``. Read from /proc, so it needs Linux.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
GROUPS = ("server", "load generator", "redis", "postgresql", "other")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, user+system CPU seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    f = raw.rsplit(")", 1)[1].split()
    return comm, int(f[1]), (int(f[11]) + int(f[12])) / TICK


def _box_busy_s() -> float:
    """CPU seconds all cores spent not idle since boot."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + f[4]  # idle + iowait
    return (sum(f[:8]) - idle) / TICK


@dataclass
class Snapshot:
    by_pid: dict[int, tuple[str, float]]
    children_s: float
    busy_s: float


def snapshot(server_pids: set[int]) -> Snapshot:
    """CPU used so far by every process, each put in its group."""
    procs = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p))) is not None}
    me = os.getpid()

    def group(pid: int) -> str:
        comm = procs[pid][0]
        if pid in server_pids:
            return "server"
        if comm.startswith("redis-server"):
            return "redis"
        if comm.startswith("postgres"):
            return "postgresql"
        seen = pid
        while seen > 1 and seen in procs:
            if seen == me:
                return "load generator"
            seen = procs[seen][1]
        return "other"

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(
        {pid: (group(pid), s[2]) for pid, s in procs.items()}, ru.ru_utime + ru.ru_stime, _box_busy_s()
    )


def spent(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds per group between two snapshots. Load-generator processes that exited meanwhile
    (the posters) are counted through this process's reaped-children usage."""
    out = dict.fromkeys(GROUPS, 0.0)
    for pid, (grp, cpu) in after.by_pid.items():
        prev = before.by_pid.get(pid)
        out[grp] += cpu - (prev[1] if prev and prev[0] == grp else 0.0)
    out["load generator"] += after.children_s - before.children_s
    out["total"] = after.busy_s - before.busy_s
    out["other"] = max(0.0, out["total"] - sum(out[g] for g in GROUPS if g != "other"))
    return out
