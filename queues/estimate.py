"""Queue position and estimated wait: what a waiting customer and the API are told."""

from __future__ import annotations

import time

import asyncpg

DEFAULT_HANDLE_S = 180.0
_AHT_CACHE: dict[tuple[str, str], tuple[float, float]] = {}


def estimated_wait_s(position: int, avg_handle_s: float, agents_serving: int, slots_per_agent: int = 1) -> int:
    """Erlang-free estimate: work ahead of you divided by the agents able to take it."""
    servers = max(1, agents_serving * max(1, slots_per_agent))
    return round(position * avg_handle_s / servers)


async def average_handle_s(pool: asyncpg.Pool, org_id: str, queue: str) -> float:
    """Mean connected→completed time of the queue's last 100 completed interactions (cached 30 s)."""
    key = (org_id, queue)
    hit = _AHT_CACHE.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    v = await pool.fetchval(
        "SELECT avg(extract(epoch FROM completed_at - connected_at)) FROM ("
        " SELECT completed_at, connected_at FROM interactions WHERE org_id=$1 AND queue=$2"
        " AND state='completed' AND connected_at IS NOT NULL ORDER BY completed_at DESC LIMIT 100) t",
        org_id,
        queue,
    )
    aht = float(v) if v else DEFAULT_HANDLE_S
    _AHT_CACHE[key] = (time.monotonic() + 30, aht)
    return aht
