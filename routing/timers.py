"""Timers in Redis sorted sets (offer timeouts, escalation, max wait, wrap-up, seat grace).

Every process polls the orgs in the active-org set (routing/active_orgs.py says which orgs are in
it and why no timer is left out). One round checks every org in one pipeline of TIMERS_DUE calls.
A due timer is claimed by pushing it a lease into the future inside that script, so exactly one
process handles it at a time, and a process that dies mid-way leaves it to fire again after the
lease. Handlers are idempotent: each checks state in its own script.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog

from routing import scripts
from routing.active_orgs import IDLE_S, PROBATION_S, Pruner
from routing.router import Router
from switchboard import keys
from switchboard.clock import Clock, ms

log = structlog.get_logger(__name__)
Handler = Callable[[str, list[str], str], Awaitable[None]]
LEASE_MS = 30_000
# A handler that failed (mostly a store's blip) runs again after this, doubling up to the lease.
RETRY_MS = 1_000
SWEEP_EVERY_S = 1.0
DUE_LIMIT = 200
CHUNK = 1000


@dataclass
class OrgRound:
    """What TIMERS_DUE said about one org: how long it has been idle (-1: not idle), whether this
    process took its sweep, and the timers it claimed."""

    idle_ms: int
    swept: bool
    due: list[str]


class TimerPoller:
    def __init__(
        self,
        redis: aioredis.Redis,
        router: Router,
        clock: Clock,
        poll_s: float = 0.1,
        idle_s: float = IDLE_S,
        probation_s: float = PROBATION_S,
    ) -> None:
        self.redis = redis
        self.router = router
        self.clock = clock
        self.poll_s = poll_s
        self.pruner = Pruner(redis, idle_s, probation_s)
        self.handlers: dict[str, Handler] = {
            "offer": self._offer,
            "esc": self._escalate,
            "maxwait": self._max_wait,
            "wrap": self._wrap,
        }
        self.due_limit = DUE_LIMIT  # timers claimed per org per round
        self._last_sweep = 0.0
        self._failures: dict[str, int] = {}  # member → handler failures in a row (this process)

    async def _offer(self, org: str, parts: list[str], member: str) -> None:
        await self.router.offer_timeout(org, parts[0], parts[1], member)

    async def _escalate(self, org: str, parts: list[str], member: str) -> None:
        await self.router.escalate(org, parts[0], int(parts[1]), parts[2], member)

    async def _max_wait(self, org: str, parts: list[str], member: str) -> None:
        await self.router.abandon(org, parts[0], "max_wait", member)

    async def _wrap(self, org: str, parts: list[str], member: str) -> None:
        await self.router.wrap_up(org, "", parts[0], "", "", member)

    async def claim(
        self, orgs: Sequence[str], sweep_ms: int = 0, limit: int | None = None
    ) -> dict[str, OrgRound | Exception]:
        """Claim the due timers of every org, in one pipeline of TIMERS_DUE calls per chunk of orgs."""
        out: dict[str, OrgRound | Exception] = {}
        args = (ms(self.clock.now()), LEASE_MS, limit or self.due_limit, sweep_ms)
        for i in range(0, len(orgs), CHUNK):
            part = list(orgs[i : i + CHUNK])
            res = await self._due_all(part, args)
            for org_id, r in zip(part, res, strict=True):
                out[org_id] = r if isinstance(r, Exception) else OrgRound(int(r[0]), bool(r[1]), list(r[2:]))
        return out

    async def _due_all(self, orgs: list[str], args: tuple[int, ...]) -> list[Any]:
        """One TIMERS_DUE call per org, issued together: the process's Redis client sends them as one
        pipeline (switchboard/redis_conn.py), and a Redis Cluster routes each to its org's shard."""
        due = self.redis.register_script(scripts.TIMERS_DUE)  # loaded again on NOSCRIPT
        return list(
            await asyncio.gather(*(due(keys=[keys.org(o)], args=args) for o in orgs), return_exceptions=True)
        )

    async def fire(self, org_id: str, due: list[str]) -> int:
        for member in due:
            kind, *parts = member.split("|")
            handler = self.handlers.get(kind)
            try:
                if handler is None:
                    log.warning("unknown_timer", member=member)
                    await self.redis.zrem(keys.timers(org_id), member)
                else:
                    await handler(org_id, parts, member)
                self._failures.pop(member, None)
            except Exception:
                log.exception("timer_failed", member=member, org_id=org_id)
                await self._retry_soon(org_id, member)
        return len(due)

    async def _retry_soon(self, org_id: str, member: str) -> None:
        """Bring a failed timer back from its lease: an offer nobody answered, met by a Redis
        connection that died in a restart, is re-offered a second later, not half a minute. Failing
        again doubles the wait, up to the lease (a handler that always fails is not run every second)."""
        if len(self._failures) > 10_000:  # members another node finished meanwhile are never popped here
            self._failures.clear()
        n = self._failures[member] = self._failures.get(member, 0) + 1
        delay = min(LEASE_MS, RETRY_MS * 2 ** (n - 1))
        with contextlib.suppress(Exception):  # Redis down too: the lease brings it back
            # XX: the handler may have done its work and removed it; LT: only ever sooner than the lease
            await self.redis.zadd(keys.timers(org_id), {member: ms(self.clock.now()) + delay}, xx=True, lt=True)

    async def fire_due(self, org_id: str, limit: int | None = None) -> int:
        """Fire one org's due timers now (tests and tools; the run loop does all orgs in a round)."""
        r = (await self.claim([org_id], limit=limit))[org_id]
        if isinstance(r, Exception):
            raise r
        return await self.fire(org_id, r.due)

    async def tick(self) -> int:
        return await self.round(await self.redis.smembers(keys.active_orgs()))

    async def round(self, members: Collection[str]) -> int:
        """Fire the due timers of these active orgs and of the orgs on probation, sweep the orgs whose
        sweep this process took (once a second), and prune the orgs idle long enough."""
        started = time.monotonic()
        orgs = self.pruner.watched(members)
        if not orgs:
            return 0
        sweep = self.clock.now() - self._last_sweep >= SWEEP_EVERY_S
        claims = await self.claim(orgs, int(SWEEP_EVERY_S * 900) if sweep else 0)
        if sweep:
            self._last_sweep = self.clock.now()
        fired = 0
        idle: dict[str, int] = {}
        for org_id, r in claims.items():
            if isinstance(r, Exception):
                log.warning("timers_due_failed", org_id=org_id, error=repr(r))
                continue
            idle[org_id] = r.idle_ms
            fired += await self.fire(org_id, r.due)
            if r.swept:
                try:
                    await self.router.sweep(org_id)
                except Exception:
                    log.exception("sweep_failed", org_id=org_id)
        await self.pruner.settle(members, idle, started)
        return fired

    async def run(self) -> None:
        try:
            while True:
                try:
                    fired = await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.warning("timer_tick_failed", error=repr(e))
                    fired = 0
                if not fired:
                    await asyncio.sleep(self.poll_s)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pruner.release(), 2.0)


async def stop_task(task: asyncio.Task[None] | None, patience_s: float = 5.0) -> None:
    """Cancel and wait, cancelling again while it runs on: a cancellation can be swallowed deep in a
    client library mid-call, and a shutdown must not wait forever on a loop that never saw it."""
    if task is None:
        return
    deadline = time.monotonic() + patience_s
    while not task.done() and time.monotonic() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.done():
        log.warning("task_did_not_stop", task=task.get_name())
    elif not task.cancelled() and task.exception() is not None:
        log.warning("task_failed_at_stop", task=task.get_name(), error=repr(task.exception()))
