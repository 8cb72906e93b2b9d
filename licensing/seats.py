"""Concurrent seats in Redis: claim, release and the peak per period, each one atomic Lua call.

Any number of server processes share these keys, so the cap check, the seat write and the peak
update happen inside one script and can never interleave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from licensing import keys

# Peaks outlive any monthly report by a wide margin; PostgreSQL keeps them for good.
PEAK_TTL_S = 120 * 24 * 3600

CLAIM_SEAT = """
local seats_key = KEYS[1]
-- KEYS[2..n]: one peak hash per measurement period to record (e.g. the license period and the day)
local agent_id = ARGV[1]
local seat_limit = tonumber(ARGV[2])
local now = ARGV[3]
local peak_ttl = tonumber(ARGV[4])

local already_held = redis.call('HEXISTS', seats_key, agent_id)
local in_use = redis.call('HLEN', seats_key)
if already_held == 0 then
  if in_use >= seat_limit then
    local peak = tonumber(redis.call('HGET', KEYS[2], 'count') or '0')
    return {0, in_use, peak, 0, 0}
  end
  redis.call('HSET', seats_key, agent_id, now)
  in_use = in_use + 1
end

-- Also on an idempotent claim: a new period starts with agents already holding seats.
local raised = 0
local period_peak = 0
for i = 2, #KEYS do
  local peak = tonumber(redis.call('HGET', KEYS[i], 'count') or '0')
  if in_use > peak then
    redis.call('HSET', KEYS[i], 'count', in_use, 'at', now)
    redis.call('EXPIRE', KEYS[i], peak_ttl)
    peak = in_use
    raised = 1
  end
  if i == 2 then period_peak = peak end
end
return {1, in_use, period_peak, already_held, raised}
"""

RECORD_PEAK = """
local seats_key = KEYS[1]
-- KEYS[2..n]: one peak hash per measurement period to record
local now = ARGV[1]
local peak_ttl = tonumber(ARGV[2])

local in_use = redis.call('HLEN', seats_key)
local raised = 0
for i = 2, #KEYS do
  local peak = tonumber(redis.call('HGET', KEYS[i], 'count') or '0')
  if in_use > peak then
    redis.call('HSET', KEYS[i], 'count', in_use, 'at', now)
    redis.call('EXPIRE', KEYS[i], peak_ttl)
    raised = 1
  end
end
return {in_use, raised}
"""

RELEASE_SEAT = """
local seats_key = KEYS[1]
local agent_id = ARGV[1]

local released = redis.call('HDEL', seats_key, agent_id)
return {released, redis.call('HLEN', seats_key)}
"""


@dataclass(frozen=True)
class SeatClaim:
    ok: bool
    in_use: int
    peak: int
    already_held: bool
    # True when this claim set a new peak for one of the periods, so the caller persists it.
    peak_raised: bool = False


@dataclass(frozen=True)
class SeatRelease:
    released: bool
    in_use: int


async def _run(redis: aioredis.Redis, source: str, key_names: list[str], args: list[Any]) -> Any:
    """The process's client keeps one script per source (switchboard.redis_conn.ScriptRegistry)."""
    return await redis.register_script(source)(keys=key_names, args=args)


def _num(value: Any) -> int:
    return int(value) if value is not None else 0


async def claim(
    redis: aioredis.Redis,
    org_id: str,
    agent_id: str,
    seats: int,
    period_key: str,
    now: float,
    *,
    also_periods: Sequence[str] = (),
) -> SeatClaim:
    """Take a seat for ``agent_id`` unless all ``seats`` are held; a holder's claim is a no-op success."""
    peak_keys = [keys.seat_peak(org_id, p) for p in (period_key, *also_periods)]
    result = await _run(
        redis, CLAIM_SEAT, [keys.seats(org_id), *peak_keys], [agent_id, seats, repr(now), PEAK_TTL_S]
    )
    ok, in_use, peak, already_held, raised = (_num(v) for v in result)
    return SeatClaim(bool(ok), in_use, peak, bool(already_held), bool(raised))


async def record_peak(
    redis: aioredis.Redis, org_id: str, period_key: str, now: float, *, also_periods: Sequence[str] = ()
) -> tuple[int, bool]:
    """Record the seats held now as the period's peak if higher; (in use, whether a peak rose).

    Claims record peaks themselves; this covers periods in which agents stay seated but nobody logs in.
    """
    peak_keys = [keys.seat_peak(org_id, p) for p in (period_key, *also_periods)]
    result = await _run(redis, RECORD_PEAK, [keys.seats(org_id), *peak_keys], [repr(now), PEAK_TTL_S])
    return int(result[0]), bool(int(result[1]))


async def release_seat(redis: aioredis.Redis, org_id: str, agent_id: str) -> SeatRelease:
    """Free the agent's seat, with the count left, in one round trip."""
    released, in_use = await _run(redis, RELEASE_SEAT, [keys.seats(org_id)], [agent_id])
    return SeatRelease(bool(int(released)), int(in_use))


async def release(redis: aioredis.Redis, org_id: str, agent_id: str) -> bool:
    """Free the agent's seat; False if it held none."""
    return (await release_seat(redis, org_id, agent_id)).released


async def in_use(redis: aioredis.Redis, org_id: str) -> int:
    return int(await redis.hlen(keys.seats(org_id)))


async def holders(redis: aioredis.Redis, org_id: str) -> set[str]:
    return {str(k) for k in await redis.hkeys(keys.seats(org_id))}


async def peak(redis: aioredis.Redis, org_id: str, period_key: str) -> tuple[int, float | None]:
    """(highest seat count, epoch seconds when first reached) in the period; (0, None) if none."""
    count, at = await redis.hmget(keys.seat_peak(org_id, period_key), ["count", "at"])
    return _num(count), (float(at) if at is not None else None)


async def peaks(
    redis: aioredis.Redis, org_id: str, period_keys: Sequence[str]
) -> dict[str, tuple[int, float | None]]:
    """``peak`` for many periods in one round trip; periods without a peak are left out."""
    pipe = redis.pipeline(transaction=False)
    for key in period_keys:
        pipe.hmget(keys.seat_peak(org_id, key), ["count", "at"])
    out: dict[str, tuple[int, float | None]] = {}
    for key, (count, at) in zip(period_keys, await pipe.execute(), strict=True):
        if count is not None:
            out[key] = (_num(count), float(at) if at is not None else None)
    return out
