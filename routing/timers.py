"""Timers in Redis sorted sets (offer timeouts, escalation, max wait, wrap-up, seat grace).

Every process polls; a due timer is claimed by pushing it a lease into the future inside one
Lua script, so exactly one process handles it at a time and a process that dies mid-way leaves it
to fire again after the lease. Handlers are idempotent: each checks state in its own script.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
import structlog

from routing import scripts
from routing.router import Router
from switchboard import keys
from switchboard.clock import Clock, ms

log = structlog.get_logger(__name__)
Handler = Callable[[str, list[str], str], Awaitable[None]]
LEASE_MS = 30_000
SWEEP_EVERY_S = 1.0


class TimerPoller:
    def __init__(self, redis: aioredis.Redis, router: Router, clock: Clock, poll_s: float = 0.1) -> None:
        self.redis = redis
        self.router = router
        self.clock = clock
        self.poll_s = poll_s
        self._due = redis.register_script(scripts.TIMERS_DUE)
        self.handlers: dict[str, Handler] = {
            "offer": self._offer,
            "esc": self._escalate,
            "maxwait": self._max_wait,
            "wrap": self._wrap,
        }
        self._last_sweep = 0.0

    async def _offer(self, org: str, parts: list[str], member: str) -> None:
        await self.router.offer_timeout(org, parts[0], parts[1], member)

    async def _escalate(self, org: str, parts: list[str], member: str) -> None:
        await self.router.escalate(org, parts[0], int(parts[1]), parts[2], member)

    async def _max_wait(self, org: str, parts: list[str], member: str) -> None:
        await self.router.abandon(org, parts[0], "max_wait", member)

    async def _wrap(self, org: str, parts: list[str], member: str) -> None:
        await self.router.wrap_up(org, "", parts[0], "", "", member)

    async def fire_due(self, org_id: str, limit: int = 200) -> int:
        due = await self._due(keys=[keys.org(org_id)], args=[ms(self.clock.now()), LEASE_MS, limit])
        for member in due:
            kind, *parts = member.split("|")
            handler = self.handlers.get(kind)
            try:
                if handler is None:
                    log.warning("unknown_timer", member=member)
                    await self.redis.zrem(keys.timers(org_id), member)
                else:
                    await handler(org_id, parts, member)
            except Exception:
                log.exception("timer_failed", member=member, org_id=org_id)
        return len(due)

    async def sweep(self, org_id: str) -> None:
        """Retry the heads of the org's queues once a second, by one process at a time."""
        if await self.redis.set(keys.org(org_id) + "sweeplock", "1", nx=True, px=int(SWEEP_EVERY_S * 900)):
            await self.router.sweep(org_id)

    async def tick(self) -> int:
        fired = 0
        orgs = await self.redis.smembers(keys.active_orgs())
        sweep = self.clock.now() - self._last_sweep >= SWEEP_EVERY_S
        for org_id in orgs:
            fired += await self.fire_due(org_id)
            if sweep:
                await self.sweep(org_id)
        if sweep:
            self._last_sweep = self.clock.now()
        return fired

    async def run(self) -> None:
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
