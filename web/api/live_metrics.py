"""Prometheus gauges for the live floor: queue depth, longest wait, service level today, agents by state.

Refreshed every 2 s by each process (each serves its own /metrics). To stay cheap with many
orgs, one pair of Redis pipelines finds the orgs with waiting work or agents logged in; only
those get the full figures (``queue_stats``/``agent_grid``) every round, the quiet ones once
when they go quiet and then in turn, about every 30 s.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import structlog
from prometheus_client import Gauge

from queues.live_stats import agent_grid, queue_stats
from switchboard import keys
from web.context import Context

log = structlog.get_logger(__name__)
REFRESH_S = 2.0
QUIET_EVERY = 15
AGENT_STATES = ("available", "not_ready", "wrap_up", "logged_out")

QUEUE_DEPTH = Gauge("switchboard_queue_depth", "Interactions waiting in the queue", ["org", "queue"])
QUEUE_LONGEST_WAIT = Gauge("switchboard_queue_longest_wait_seconds", "Wait of the oldest waiting interaction",
                           ["org", "queue"])
QUEUE_SERVICE_LEVEL = Gauge("switchboard_queue_service_level_ratio",
                            "Share answered within the queue's service level threshold since local midnight",
                            ["org", "queue"])
AGENTS = Gauge("switchboard_agents", "Agents by state", ["org", "state"])


class LiveMetrics:
    """Keeps the gauges in step with Redis and PostgreSQL for every org of the database."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.queues: dict[str, set[str]] = {}
        self.active: set[str] = set()
        self.round = 0

    async def refresh(self) -> None:
        orgs = [(r["id"], r["timezone"]) for r in await self.ctx.pool.fetch("SELECT id, timezone FROM orgs")]
        live = await self._live_orgs([o for o, _ in orgs])
        self.round += 1
        for i, (org, tz) in enumerate(orgs):
            due = org in live or org in self.active or org not in self.queues
            if due or (i + self.round) % QUIET_EVERY == 0:
                await self.refresh_org(org, tz)
            if org in live:
                self.active.add(org)
            else:
                self.active.discard(org)
        gone = set(self.queues) - {o for o, _ in orgs}
        for org in gone:
            self._drop(org, self.queues.pop(org), all_states=True)

    async def _live_orgs(self, orgs: list[str]) -> set[str]:
        """Orgs with an agent logged in or an interaction waiting: two pipelined round trips for all."""
        pipe = self.ctx.redis.pipeline(transaction=False)
        for org in orgs:
            pipe.scard(keys.agents_online(org))
            pipe.smembers(keys.org(org) + "queues")
        res = await pipe.execute()
        live = {org for i, org in enumerate(orgs) if int(res[2 * i])}
        names = [(org, sorted(res[2 * i + 1])) for i, org in enumerate(orgs) if org not in live]
        pipe = self.ctx.redis.pipeline(transaction=False)
        for org, qs in names:
            for q in qs:
                pipe.zcard(keys.queue(org, q))
        depths = iter(await pipe.execute())
        for org, qs in names:
            if any(int(next(depths)) for _ in qs):
                live.add(org)
        return live

    async def refresh_org(self, org: str, tz: str) -> None:
        ctx = self.ctx
        now = ctx.clock.now()
        queues = await ctx.queues.queues(org)
        stats = await queue_stats(ctx.pool, ctx.redis, org, tz or "UTC", queues, None, now)
        seen = set()
        for s in stats:
            q = s["queue"]
            seen.add(q)
            QUEUE_DEPTH.labels(org, q).set(s["waiting"])
            QUEUE_LONGEST_WAIT.labels(org, q).set(s["longest_wait_s"])
            sl = s.get("service_level")
            if sl is None:
                _remove(QUEUE_SERVICE_LEVEL, org, q)
            else:
                QUEUE_SERVICE_LEVEL.labels(org, q).set(sl)
        self._drop(org, self.queues.get(org, set()) - seen)
        self.queues[org] = seen
        counts: Counter[str] = Counter(a["state"] for a in await agent_grid(ctx.pool, ctx.redis, org, now))
        for state in {*AGENT_STATES, *counts}:
            AGENTS.labels(org, state).set(counts.get(state, 0))

    def _drop(self, org: str, queues: set[str], all_states: bool = False) -> None:
        for q in queues:
            for g in (QUEUE_DEPTH, QUEUE_LONGEST_WAIT, QUEUE_SERVICE_LEVEL):
                _remove(g, org, q)
        if all_states:
            for state in AGENT_STATES:
                _remove(AGENTS, org, state)


def _remove(gauge: Gauge, *labels: Any) -> None:
    try:
        gauge.remove(*labels)
    except KeyError:
        pass


async def _refresh_forever(metrics: LiveMetrics) -> None:
    while True:
        try:
            await metrics.refresh()
        except Exception:
            log.exception("live_metrics_refresh_failed")
        await asyncio.sleep(REFRESH_S)


async def on_startup(ctx: Context, background: bool) -> list[asyncio.Task[None]]:
    metrics = LiveMetrics(ctx)
    ctx.extras["live_metrics"] = metrics
    if not background:
        return []
    return [asyncio.create_task(_refresh_forever(metrics))]
