"""A router on real Redis and PostgreSQL with a hand-moved clock, and no sockets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from harness import enqueue_new

from agents.model import AgentProfile
from agents.presence import login
from queues.config import QueueCache, save_queue
from queues.model import QueueConfig
from routing.router import Report, Router
from routing.timers import TimerPoller
from switchboard import keys
from switchboard.clock import FrozenClock, ms

# In the future, so a live server's real-clock timer poller never finds these timers due.
T0 = float(int(time.time()) + 30 * 86400)


class Recorder:
    def __init__(self) -> None:
        self.reports: list[Report] = []

    async def publish(self, org_id: str, report: Report) -> None:
        self.reports.append(report)

    def offers(self) -> list[dict[str, Any]]:
        return [o for r in self.reports for o in r.get("offers") or []]


@dataclass
class RoutingEnv:
    org: str
    router: Router
    clock: FrozenClock
    poller: TimerPoller
    recorder: Recorder
    redis: Any
    pool: Any
    queues: dict[str, QueueConfig] = field(default_factory=dict)
    seq: int = 0

    async def queue(self, **kw: Any) -> QueueConfig:
        q = QueueConfig(**kw)
        await save_queue(self.pool, self.redis, self.org, q)
        self.queues[q.name] = q
        return q

    async def agent(
        self, name: str, skills: dict[str, int], capacity: dict[str, int] | None = None, state: str = "available"
    ) -> str:
        profile = AgentProfile(
            id=_uuid(name), org_id=self.org, display_name=name, skills=skills, capacity=capacity or {}
        )
        await login(self.router, profile, await self.router.queues.queues(self.org))
        if state != "available":
            await self.router.set_state(self.org, profile.id, state, "break" if state == "not_ready" else None)
        return profile.id

    async def interaction(
        self,
        queue: str,
        priority: int = 0,
        channel: str = "chat",
        skills: dict[str, int] | None = None,
        name: str | None = None,
    ) -> tuple[str, Report]:
        self.seq += 1
        iid = _uuid(name or f"i{self.seq}")
        report = await enqueue_new(
            self.router, self.org, self.queues[queue], iid,
            channel=channel, priority=priority, skills=skills or {}, now_ms=ms(self.clock.now()),
        )
        return iid, report

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.poller.fire_due(self.org)

    async def live(self, iid: str) -> dict[str, str]:
        return await self.redis.hgetall(keys.interaction(self.org, iid))

    async def agent_live(self, agent_id: str) -> dict[str, Any]:
        return await self.router.agent_live(self.org, agent_id) or {}

    async def waiting(self, queue: str) -> list[str]:
        return list(await self.redis.zrange(keys.queue(self.org, queue), 0, -1))


_IDS: dict[str, str] = {}


def _uuid(name: str) -> str:
    import uuid

    return _IDS.setdefault(name + str(len(_IDS)), str(uuid.uuid4()))


@pytest.fixture
async def env(pool, redis, org_id) -> RoutingEnv:  # type: ignore[no-untyped-def]
    await pool.execute("INSERT INTO orgs (id, name) VALUES ($1, $1)", org_id)
    clock = FrozenClock(T0)
    cache = QueueCache(pool, redis)
    rec = Recorder()
    router = Router(redis, pool, clock, cache, rec)
    return RoutingEnv(org_id, router, clock, TimerPoller(redis, router, clock), rec, redis, pool)
