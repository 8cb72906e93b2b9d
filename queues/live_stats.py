"""Live figures for supervisors: per queue (waiting, longest wait, SL today…) and per agent."""

from __future__ import annotations

import json
import time
from collections import Counter
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


_TODAY_SQL = """
SELECT i.original_queue AS queue,
       count(*) FILTER (WHERE i.connected_at IS NOT NULL) AS answered,
       count(*) FILTER (WHERE i.connected_at - i.enqueued_at <= make_interval(secs => q.sl_s)) AS answered_in_sl,
       count(*) FILTER (WHERE i.connected_at IS NOT NULL AND i.state = 'completed') AS handled,
       count(*) FILTER (WHERE i.connected_at IS NULL AND i.state = 'abandoned') AS abandoned,
       count(*) FILTER (WHERE i.connected_at IS NULL AND i.state = 'abandoned'
                        AND i.ended_at - i.enqueued_at > make_interval(secs => q.sl_s)) AS abandoned_after_sl
FROM interactions i JOIN unnest($4::text[], $5::int[]) AS q(name, sl_s) ON q.name = i.original_queue
WHERE i.org_id = $1 AND i.created_at >= $2 AND i.created_at < $3
GROUP BY i.original_queue
"""
_TODAY_FIGURES = ("handled", "abandoned", "answered", "answered_in_sl", "abandoned_after_sl")


async def today_counts(
    pool: asyncpg.Pool, org_id: str, tz: str, queues: dict[str, QueueConfig], now: float
) -> dict[str, dict[str, Any]]:
    """Handled, abandoned and service level since local midnight, per queue (cached 2 s).

    Counted by PostgreSQL: a busy day has far too many rows to ship to Python every refresh.
    """
    hit = _TODAY_CACHE.get(org_id)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    zone = ZoneInfo(tz)
    local = datetime.fromtimestamp(now, zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    names = sorted(queues)
    rows = await pool.fetch(
        _TODAY_SQL,
        org_id,
        start,
        start + timedelta(days=1),
        names,
        [queues[n].service_level_s for n in names],
    )
    out: dict[str, dict[str, Any]] = {n: dict.fromkeys(_TODAY_FIGURES, 0) for n in names}
    for r in rows:
        out[r["queue"]] = {f: int(r[f]) for f in _TODAY_FIGURES}
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


# KEYS[1] online set; ARGV[1] prefix of agent hashes. Returns [state, count, ...] of logged-in agents:
# counted inside Redis so a refresh gets a handful of numbers back, not one reply per agent.
AGENT_STATES_SCRIPT = """
local online_key = KEYS[1]
local agent_prefix = ARGV[1]
local counts = {}
for _, id in ipairs(redis.call('SMEMBERS', online_key)) do
  local state = redis.call('HGET', agent_prefix .. id, 'state') or 'logged_out'
  counts[state] = (counts[state] or 0) + 1
end
local flat = {}
for state, n in pairs(counts) do
  flat[#flat + 1] = state
  flat[#flat + 1] = n
end
return flat
"""


async def online_states(redis: aioredis.Redis, org_id: str) -> Counter[str]:
    """States of the agents in the org's online set, without reading PostgreSQL or each agent's hash here."""
    flat = await redis.register_script(AGENT_STATES_SCRIPT)(
        keys=[keys.agents_online(org_id)], args=[keys.agent(org_id, "")]
    )
    return Counter({str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)})


def states_with_logged_out(online: Counter[str], active_agents: int) -> Counter[str]:
    """Agents by state: those not logged in are the org's active agents less the logged-in ones."""
    counts = Counter({s: n for s, n in online.items() if s != "logged_out"})
    counts["logged_out"] = max(0, active_agents - sum(counts.values()))
    return counts


async def active_agents_by_org(pool: asyncpg.Pool) -> dict[str, int]:
    """Active agent users per org, one query for every org."""
    rows = await pool.fetch("SELECT org_id, count(*) AS n FROM users WHERE role='agent' AND active GROUP BY org_id")
    return {r["org_id"]: int(r["n"]) for r in rows}


async def org_timezone(pool: asyncpg.Pool, org_id: str) -> str:
    return await pool.fetchval("SELECT timezone FROM orgs WHERE id=$1", org_id) or "UTC"
