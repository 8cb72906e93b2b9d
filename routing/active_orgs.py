"""The active-org set (``sb:orgs``): the orgs the timer pollers walk, kept to those with live routing work.

**Idle** means: the org's timer set is empty and none of its agents is online. Nothing else needs a
poller. Every timer (offer timeout, escalation, max wait, wrap-up, seat grace) sits in the timer
set until handled; the once-a-second sweep only offers waiting interactions to online agents. A
waiting interaction with no timer in an org with nobody online is routed by the next login (the
LOGIN script drains), and a login adds the org first. Offers, conversations and wrap-ups hold a
timer or an online agent.

**In**: an agent login adds the org before its LOGIN script (web/sio/agent.py). Every enqueue
(intake, webhooks, web chat, the reconciler's requeue: all through ``enqueue_record``) runs inside
``while_active``. The other things that write timers (offers, ends, transfers, seat grace) happen
in an org with an agent online, which is in the set and not idle. As a backstop, the reconciler
adds back every org whose Redis holds a timer or an online agent, once per reconcile interval.

**Out**: each poller round reports, per org, how long it has been idle by Redis's clock
(``keys.idle_since``, cleared as soon as it is not idle). An org idle for ``idle_s`` is removed
(SREM). It then stays *on probation* in that poller for ``probation_s``: every round checks it as
if it were still a member (so its timers fire), and at the first sign of work it is added back.
``idle_s`` stops an org that pauses between conversations from being dropped and re-added all the time.

**Why no timer is stranded.** A timer is stranded only when its org ends up outside the set while
the timer is in it. Say a writer last SADDed the org at ``ts`` and wrote the timer at ``tw``.

- If the SREM came before ``ts``, that SADD put the org back.
- Otherwise the SREM came at some ``p > ts``. The poller then checks the org every round until
  ``p + probation_s``, and any check after ``tw`` sees the timer and adds the org back. So
  stranding needs ``tw > p + probation_s > ts + probation_s``.

``while_active`` keeps ``tw - ts < TOUCH_EVERY_S``. It sends the SADD along with the work unless
it did so less than ``TOUCH_EVERY_S`` ago (a per-process memo, so intake pays no round trip of
its own). If the work returns more than ``TOUCH_EVERY_S`` after the last SADD, it SADDs again. An
SADD made after the work is always safe, because the check after any later SREM sees the work.
``Pruner`` refuses ``probation_s <= TOUCH_EVERY_S``, which closes the argument. Both times are
measured conservatively: ``ts`` before the SADD is sent, ``p`` after the SREM has answered.

**What is left.** If a poller is killed (kill -9) while an org is on probation, a timer that raced
with that org's removal may stay outside the set until the next reconcile adds the org back. The
timer is then late by at most ``reconcile_interval_s``, never lost. A poller that stops cleanly
adds its probation orgs back first.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Collection, Mapping, Sequence
from typing import TypeVar

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from switchboard import keys

log = structlog.get_logger(__name__)
T = TypeVar("T")

# A process adds an org at most once per this many seconds (see the module docstring).
TOUCH_EVERY_S = 10.0
IDLE_S = 60.0
PROBATION_S = 30.0
CHUNK = 500

# per Redis client (tests run clients on other servers in one process): org -> monotonic time of the last SADD
_added: weakref.WeakKeyDictionary[aioredis.Redis, dict[str, float]] = weakref.WeakKeyDictionary()


def _memo(redis: aioredis.Redis) -> dict[str, float]:
    memo = _added.get(redis)
    if memo is None:
        memo = _added[redis] = {}
    return memo


async def add(redis: aioredis.Redis, org_id: str) -> None:
    """Put the org in the set now."""
    started = time.monotonic()
    await redis.sadd(keys.active_orgs(), org_id)
    _memo(redis)[org_id] = started


async def while_active(redis: aioredis.Redis, org_id: str, work: Awaitable[T]) -> T:
    """Run work that may write the org's timers, making sure the org is in the set (see the module
    docstring). The SADD, when due, is sent together with the work: no round trip of its own."""
    memo = _memo(redis)
    started = time.monotonic()
    last = memo.get(org_id)
    if last is not None and started - last < TOUCH_EVERY_S:
        result = await work
    else:
        added: object
        added, result = await asyncio.gather(redis.sadd(keys.active_orgs(), org_id), work, return_exceptions=True)
        if isinstance(added, BaseException):
            log.warning("active_org_add_failed", org_id=org_id, error=repr(added))
        else:
            memo[org_id] = last = started
        if isinstance(result, BaseException):
            raise result
    if last is None or time.monotonic() - last >= TOUCH_EVERY_S:
        try:
            await add(redis, org_id)
        except RedisError as e:  # the work is done; the reconciler puts back orgs with timers
            log.warning("active_org_add_failed", org_id=org_id, error=repr(e))
    return result


async def add_busy(redis: aioredis.Redis, org_ids: Sequence[str]) -> list[str]:
    """Put back every one of these orgs whose Redis holds a timer or an online agent (the
    reconciler's backstop); returns them."""
    busy: list[str] = []
    for i in range(0, len(org_ids), CHUNK):
        part = org_ids[i : i + CHUNK]
        pipe = redis.pipeline(transaction=False)
        for org_id in part:
            pipe.zcard(keys.timers(org_id))
            pipe.scard(keys.agents_online(org_id))
        res = await pipe.execute()
        busy.extend(o for j, o in enumerate(part) if res[2 * j] or res[2 * j + 1])
    if busy:
        await redis.sadd(keys.active_orgs(), *busy)
    return busy


class Pruner:
    """One poller's side of the set: removes orgs idle for ``idle_s``, keeps each on probation for
    ``probation_s`` after, and adds it back at the first sign of work."""

    def __init__(self, redis: aioredis.Redis, idle_s: float = IDLE_S, probation_s: float = PROBATION_S) -> None:
        if probation_s <= TOUCH_EVERY_S:
            raise ValueError(f"probation_s must exceed TOUCH_EVERY_S ({TOUCH_EVERY_S}s), or a timer can be stranded")
        self.redis = redis
        self.idle_ms = int(idle_s * 1000)
        self.probation_s = probation_s
        self.on_probation: dict[str, float] = {}  # org -> monotonic time its SREM answered

    def watched(self, members: Collection[str]) -> list[str]:
        """The orgs a round checks: the set's members and the orgs on probation."""
        return sorted(set(members) | self.on_probation.keys())

    async def settle(self, members: Collection[str], idle_ms: Mapping[str, int], started: float) -> None:
        """Act on one round's idle report. ``started`` is when the round began, before any check was
        sent, so a probation ends only on a check made at least ``probation_s`` after the SREM."""
        back: list[str] = []
        out: list[str] = []
        for org_id, idle in idle_ms.items():
            removed = self.on_probation.get(org_id)
            if idle < 0:
                if removed is not None:
                    back.append(org_id)
            elif org_id in members and idle >= self.idle_ms:
                out.append(org_id)
            elif removed is not None and started - removed >= self.probation_s:
                del self.on_probation[org_id]
        if back:
            await self.redis.sadd(keys.active_orgs(), *back)
            for org_id in back:
                self.on_probation.pop(org_id, None)
            log.info("active_orgs_back", orgs=len(back))
        if out:
            await self.redis.srem(keys.active_orgs(), *out)
            removed_at = time.monotonic()
            for org_id in out:
                self.on_probation[org_id] = removed_at
            log.info("active_orgs_pruned", orgs=len(out))

    async def release(self) -> None:
        """On stop: orgs still on probation go back in (another poller will prune them again)."""
        if self.on_probation:
            orgs = list(self.on_probation)
            self.on_probation.clear()
            await self.redis.sadd(keys.active_orgs(), *orgs)
