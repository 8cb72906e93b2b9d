"""Prometheus gauges for the live floor: queue depth, longest wait, service level today, agents by state.

The figures describe state every node shares (Redis, PostgreSQL), so one node per org publishes them:
every 2 s each node takes or renews the org's lease (``SET NX PX`` on ``keys.floor_metrics_lease``,
renewed by its holder); the holder refreshes that org's gauges and every other node removes its own
series of that org. Each series thus has one source at a time: a query need not care which node
answers (``max by (org, queue)`` is safe), and when the holder dies another node takes over within
``LEASE_MS``. Different orgs may be led by different nodes, which spreads the work.

Agents by state are counted in Redis from the org's online set (one script call per org); logged-out
agents are the org's active agent users less those online, the users counted once every
``AGENT_TOTALS_S`` for all orgs in one query. Among the orgs a node leads, one pair of pipelines
finds those with waiting work or agents logged in; only those get the full figures every round,
the quiet ones once when they go quiet and then in turn, about every 30 s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from queues.live_stats import active_agents_by_org, online_states, queue_stats, states_with_logged_out
from switchboard import keys
from web.context import Context

log = structlog.get_logger(__name__)
REFRESH_S = 2.0
LEASE_MS = int(3 * REFRESH_S * 1000)
AGENT_TOTALS_S = 30.0
QUIET_EVERY = 15
AGENT_STATES = ("available", "not_ready", "wrap_up", "logged_out")

# KEYS[1] the org's lease; ARGV[1] this publisher, ARGV[2] lease ms. Returns 1 while the caller holds it.
LEASE = """
local lease_key = KEYS[1]
local me = ARGV[1]
local lease_ms = ARGV[2]
if redis.call('GET', lease_key) == me then
  redis.call('PEXPIRE', lease_key, lease_ms)
  return 1
end
if redis.call('SET', lease_key, me, 'NX', 'PX', lease_ms) then return 1 end
return 0
"""


@dataclass(frozen=True)
class FloorGauges:
    """The floor's gauges in one registry (the process's default one, or a test's own)."""

    depth: Gauge
    longest_wait: Gauge
    service_level: Gauge
    agents: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> FloorGauges:
        return cls(
            Gauge("switchboard_queue_depth", "Interactions waiting in the queue", ["org", "queue"], registry=registry),
            Gauge(
                "switchboard_queue_longest_wait_seconds",
                "Wait of the oldest waiting interaction",
                ["org", "queue"],
                registry=registry,
            ),
            Gauge(
                "switchboard_queue_service_level_ratio",
                "Share answered within the queue's service level threshold since local midnight",
                ["org", "queue"],
                registry=registry,
            ),
            Gauge("switchboard_agents", "Agents by state", ["org", "state"], registry=registry),
        )


GAUGES = FloorGauges.create(REGISTRY)


class LiveMetrics:
    """Keeps the gauges of the orgs this node leads in step with Redis and PostgreSQL."""

    def __init__(self, ctx: Context, gauges: FloorGauges = GAUGES) -> None:
        self.ctx = ctx
        self.gauges = gauges
        # unique per instance: two processes started with the same node id must not share a lease
        self.owner = f"{ctx.node_id or 'node'}/{uuid.uuid4().hex[:12]}"
        self.queues: dict[str, set[str]] = {}  # org -> queues with series here (an org led last round)
        self.states: dict[str, set[str]] = {}
        self.active: set[str] = set()
        self.round = 0
        self._agent_totals: dict[str, int] = {}
        self._agent_totals_at = float("-inf")

    async def refresh(self) -> set[str]:
        """One round; returns the orgs this node published."""
        orgs = [(r["id"], r["timezone"]) for r in await self.ctx.pool.fetch("SELECT id, timezone FROM orgs")]
        led = await self._leases([o for o, _ in orgs])
        for org in set(self.queues) - led:
            self._drop_org(org)
        mine = [(o, tz) for o, tz in orgs if o in led]
        if not mine:
            return led
        if time.monotonic() - self._agent_totals_at > AGENT_TOTALS_S or any(
            o not in self._agent_totals for o, _ in mine
        ):
            totals = await active_agents_by_org(self.ctx.pool)
            self._agent_totals = {o: totals.get(o, 0) for o, _ in orgs}  # an org without agents is known too
            self._agent_totals_at = time.monotonic()
        live = await self._live_orgs([o for o, _ in mine])
        self.round += 1
        for i, (org, tz) in enumerate(mine):
            due = org in live or org in self.active or org not in self.queues
            if due or (i + self.round) % QUIET_EVERY == 0:
                await self.refresh_org(org, tz)
            if org in live:
                self.active.add(org)
            else:
                self.active.discard(org)
        return led

    async def _leases(self, orgs: list[str]) -> set[str]:
        """Take or renew each org's lease; the calls go out together, as one pipeline."""
        lease = self.ctx.redis.register_script(LEASE)
        res = await asyncio.gather(
            *(lease(keys=[keys.floor_metrics_lease(org)], args=[self.owner, LEASE_MS]) for org in orgs)
        )
        return {org for org, held in zip(orgs, res, strict=True) if int(held)}

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
        ctx, g = self.ctx, self.gauges
        now = ctx.clock.now()
        queues = await ctx.queues.queues(org)
        stats = await queue_stats(ctx.pool, ctx.redis, org, tz or "UTC", queues, None, now)
        seen = set()
        for s in stats:
            q = s["queue"]
            seen.add(q)
            g.depth.labels(org, q).set(s["waiting"])
            g.longest_wait.labels(org, q).set(s["longest_wait_s"])
            sl = s.get("service_level")
            if sl is None:
                _remove(g.service_level, org, q)
            else:
                g.service_level.labels(org, q).set(sl)
        self._drop_queues(org, self.queues.get(org, set()) - seen)
        self.queues[org] = seen
        counts: Counter[str] = states_with_logged_out(
            await online_states(ctx.redis, org), self._agent_totals.get(org, 0)
        )
        shown = {*AGENT_STATES, *counts}
        for state in shown:
            g.agents.labels(org, state).set(counts.get(state, 0))
        for state in self.states.get(org, set()) - shown:
            _remove(g.agents, org, state)
        self.states[org] = shown

    def _drop_queues(self, org: str, queues: set[str]) -> None:
        for q in queues:
            for g in (self.gauges.depth, self.gauges.longest_wait, self.gauges.service_level):
                _remove(g, org, q)

    def _drop_org(self, org: str) -> None:
        """Another node leads the org now (or it is gone): this node stops publishing it."""
        self._drop_queues(org, self.queues.pop(org, set()))
        for state in self.states.pop(org, set()):
            _remove(self.gauges.agents, org, state)
        self.active.discard(org)


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
