"""Live figures for supervisors: per queue (waiting, longest wait, SL today…) and per agent."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import redis.asyncio as aioredis

from queues.estimate import average_handle_s, estimated_wait_s
from queues.model import PRIORITY_WEIGHT, QueueConfig
from switchboard import keys

_TODAY_CACHE: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}


def service_level(answered_in_sl: int, answered: int, abandoned_after_sl: int) -> float | None:
    """Share answered within the threshold, of those answered plus those abandoned after it."""
    denom = answered + abandoned_after_sl
    return None if denom == 0 else answered_in_sl / denom


def forget_today(org_id: str) -> None:
    """Drop the cached counts so the next figures include an answer that just happened."""
    _TODAY_CACHE.pop(org_id, None)


async def today_counts(
    pool: asyncpg.Pool, org_id: str, tz: str, queues: dict[str, QueueConfig], now: float
) -> dict[str, dict[str, Any]]:
    """Handled, abandoned and service level since local midnight, per queue (cached 2 s)."""
    hit = _TODAY_CACHE.get(org_id)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    zone = ZoneInfo(tz)
    local = datetime.fromtimestamp(now, zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = await pool.fetch(
        "SELECT original_queue AS queue, state, connected_at, enqueued_at, ended_at FROM interactions"
        " WHERE org_id=$1 AND created_at >= $2 AND created_at < $3",
        org_id,
        start,
        start + timedelta(days=1),
    )
    out: dict[str, dict[str, Any]] = {}
    for name, q in queues.items():
        out[name] = {"handled": 0, "abandoned": 0, "answered": 0, "answered_in_sl": 0, "abandoned_after_sl": 0}
        del q
    for r in rows:
        s = out.get(r["queue"])
        if s is None:
            continue
        sl = queues[r["queue"]].service_level_s
        if r["connected_at"] is not None:
            s["answered"] += 1
            if (r["connected_at"] - r["enqueued_at"]).total_seconds() <= sl:
                s["answered_in_sl"] += 1
            if r["state"] == "completed":
                s["handled"] += 1
        elif r["state"] == "abandoned":
            s["abandoned"] += 1
            if r["ended_at"] and (r["ended_at"] - r["enqueued_at"]).total_seconds() > sl:
                s["abandoned_after_sl"] += 1
    for s in out.values():
        s["service_level"] = service_level(s["answered_in_sl"], s["answered"], s["abandoned_after_sl"])
    _TODAY_CACHE[org_id] = (time.monotonic() + 2.0, out)
    return out


async def queue_stats(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    org_id: str,
    tz: str,
    queues: dict[str, QueueConfig],
    names: list[str] | None,
    now: float,
) -> list[dict[str, Any]]:
    names = [n for n in (names or sorted(queues)) if n in queues]
    pipe = redis.pipeline(transaction=False)
    for n in names:
        qk = keys.queue(org_id, n)
        pipe.zcard(qk)
        # the oldest waiter is the head of one of the 11 priority bands
        for prio in range(10, -1, -1):
            lo = (10 - prio) * PRIORITY_WEIGHT
            pipe.zrangebyscore(qk, lo, lo + PRIORITY_WEIGHT - 1, start=0, num=1, withscores=True)
        pipe.zcard(keys.ready(org_id, n))
        pipe.scard(keys.org(org_id) + f"members:{n}")
    res = await pipe.execute()
    today = await today_counts(pool, org_id, tz, queues, now)
    out = []
    per = 14
    for i, n in enumerate(names):
        chunk = res[i * per : (i + 1) * per]
        waiting = int(chunk[0])
        oldest = [int(r[0][1]) % PRIORITY_WEIGHT for r in chunk[1:12] if r]
        longest = max(0, int(now - min(oldest) / 1000)) if oldest else 0
        members = int(chunk[13])
        aht = await average_handle_s(pool, org_id, n)
        out.append(
            {
                "queue": n,
                "waiting": waiting,
                "longest_wait_s": longest,
                "estimated_wait_s": estimated_wait_s(waiting, aht, members) if waiting else 0,
                "available_agents": int(chunk[12]),
                "eligible_agents": members,
                "service_level_s": queues[n].service_level_s,
                **today.get(n, {}),
            }
        )
    return out


async def agent_grid(pool: asyncpg.Pool, redis: aioredis.Redis, org_id: str, now: float) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, display_name, email, team, skills FROM users WHERE org_id=$1 AND role='agent' AND active"
        " ORDER BY display_name",
        org_id,
    )
    pipe = redis.pipeline(transaction=False)
    for r in rows:
        ak = keys.agent(org_id, str(r["id"]))
        pipe.hmget(ak, "state", "idle_code", "since_state", "load")
        pipe.smembers(ak + ":open")
    res = await pipe.execute()
    out = []
    for i, r in enumerate(rows):
        state, code, since, load = res[2 * i]
        out.append(
            {
                "id": str(r["id"]),
                "display_name": r["display_name"],
                "email": r["email"],
                "team": r["team"],
                "skills": r["skills"],
                "state": state or "logged_out",
                "idle_code": code or None,
                "time_in_state_s": max(0, int(now - int(since) / 1000)) if since else None,
                "load": json.loads(load) if load else {},
                "interactions": sorted(res[2 * i + 1]),
            }
        )
    return out


async def org_timezone(pool: asyncpg.Pool, org_id: str) -> str:
    return await pool.fetchval("SELECT timezone FROM orgs WHERE id=$1", org_id) or "UTC"
