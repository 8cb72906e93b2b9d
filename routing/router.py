"""The router: runs the atomic routing scripts and turns their reports into records and emits.

Every state change that two processes could race on happens inside one Lua script
(routing/scripts.py); this module only prepares arguments, then writes the script's report to
PostgreSQL and hands it to the notifier (Socket.IO emits).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Protocol

import asyncpg
import redis.asyncio as aioredis
import structlog

from queues import store
from queues.config import QueueCache
from routing import scripts
from routing.metrics import DECISION_SECONDS, INTAKE_TO_OFFER, OFFERS
from routing.recorder import WRITTEN, ReportRecorder
from routing.spool import ReportSpool
from switchboard import jsonwire, keys
from switchboard.clock import Clock, ms
from switchboard.groupcommit import GroupCommit

log = structlog.get_logger(__name__)
Report = dict[str, Any]


class RoutingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Notifier(Protocol):
    async def publish(self, org_id: str, report: Report) -> None: ...


class NullNotifier:
    async def publish(self, org_id: str, report: Report) -> None:
        return None


SCRIPT_NAMES = (
    "ENQUEUE",
    "ROUTE",
    "SWEEP",
    "ACCEPT",
    "REJECT",
    "OFFER_TIMEOUT",
    "END",
    "WRAP_UP",
    "SET_STATE",
    "LOGIN",
    "LOGOUT",
    "ESCALATE",
    "ABANDON",
    "TRANSFER",
    "MOVE",
)


class Router:
    def __init__(
        self,
        redis: aioredis.Redis,
        pool: asyncpg.Pool,
        clock: Clock,
        queues: QueueCache,
        notifier: Notifier | None = None,
    ) -> None:
        self.redis = redis
        self.pool = pool
        self.clock = clock
        self.queues = queues
        self.notifier: Notifier = notifier or NullNotifier()
        self.recorder = ReportRecorder(pool, ReportSpool(redis))
        # New interactions, durable before intake answers: concurrent intakes share a statement.
        self.intake_writer: GroupCommit[store.Intake, store.Inserted] = GroupCommit(
            lambda items: store.insert_many(pool, items), max_batch=200
        )
        self._scripts = {name: redis.register_script(getattr(scripts, name)) for name in SCRIPT_NAMES}
        # Orgs with interactions stored but not queued (Redis was down): reconciled as soon as it is back.
        self.unplaced: set[str] = set()

    async def close(self) -> None:
        """Let what was handed to PostgreSQL be written."""
        await self.intake_writer.close()
        await self.recorder.close()

    async def _run(self, name: str, org_id: str, *args: Any) -> Report:
        now_ms = ms(self.clock.now())
        t0 = time.perf_counter()
        raw = await self._scripts[name](keys=[keys.org(org_id)], args=[now_ms, *args])
        DECISION_SECONDS.observe(time.perf_counter() - t0)
        report: Report = jsonwire.loads(raw)
        err = report.get("error")
        if isinstance(err, dict):
            raise RoutingError(err["code"], err["message"])
        inner = report.get("report")
        await self.apply(org_id, inner if isinstance(inner, dict) else report, now_ms)
        return report

    async def apply(self, org_id: str, report: Report, now_ms: int) -> None:
        for k in ("offers", "revoked", "agents", "decisions", "connected", "ended", "completed", "requeued"):
            if not isinstance(report.get(k), list):
                report[k] = []  # cjson encodes an empty array as {}
        for o in report["offers"]:
            if o["trigger"] == "new":
                INTAKE_TO_OFFER.observe(max(0.0, (now_ms - o["enq"]) / 1000))
        for r in report["revoked"]:
            OFFERS.labels("timeout" if r["reason"] == "timeout" else "revoked").inc()
        # The write to PostgreSQL starts first; the emits go out while it commits (Redis already
        # holds the change, and PostgreSQL applies reports by version whatever the order), and the
        # caller still returns only once the record is committed.
        recorded = (
            self.recorder.submit(org_id, report, now_ms)
            if any(report.get(k) for k in WRITTEN) or self.recorder.hooked(org_id, report)
            else None
        )
        # The change is made; a failure to tell someone must not turn it into an error for the caller
        # (a reconnecting desktop gets the server's truth in its session snapshot).
        try:
            await self.notifier.publish(org_id, report)
        except Exception as e:
            log.warning("notify_failed", org_id=org_id, error=repr(e))
        if recorded is not None:
            await asyncio.shield(recorded)

    # -- interactions -------------------------------------------------------------------------

    async def enqueue(
        self,
        org_id: str,
        *,
        interaction_id: str,
        queue: str,
        channel: str,
        priority: int,
        enqueued_ms: int,
        required: dict[str, int],
        extra: dict[str, int],
        preferred_agent: str | None,
        preferred_until_ms: int,
        customer_id: str | None,
        customer_name: str | None,
        subject: str | None,
        timers: list[list[Any]],
    ) -> Report:
        return await self._run(
            "ENQUEUE",
            org_id,
            interaction_id,
            queue,
            channel,
            priority,
            enqueued_ms,
            json.dumps(required) if required else "{}",
            json.dumps(extra) if extra else "{}",
            preferred_agent or "",
            preferred_until_ms,
            customer_id or "",
            json.dumps(timers),
            customer_name or "",
            subject or "",
            enqueued_ms,
        )

    async def route(self, org_id: str, interaction_id: str, trigger: str = "retry") -> Report:
        return await self._run("ROUTE", org_id, interaction_id, trigger, 0)

    async def sweep(self, org_id: str, per_queue: int = 5) -> Report:
        return await self._run("SWEEP", org_id, per_queue)

    async def accept(self, org_id: str, agent_id: str, offer_id: str) -> Report:
        report = await self._run("ACCEPT", org_id, agent_id, offer_id)
        OFFERS.labels("accepted").inc()
        return report

    async def reject(self, org_id: str, agent_id: str, offer_id: str) -> Report:
        report = await self._run("REJECT", org_id, agent_id, offer_id)
        OFFERS.labels("rejected").inc()
        return report

    async def offer_timeout(self, org_id: str, interaction_id: str, offer_id: str, member: str) -> Report:
        return await self._run("OFFER_TIMEOUT", org_id, interaction_id, offer_id, member)

    async def end(self, org_id: str, agent_id: str, interaction_id: str, reason: str = "agent") -> Report:
        return await self._run("END", org_id, agent_id, interaction_id, reason)

    async def wrap_up(
        self, org_id: str, agent_id: str, interaction_id: str, code: str, notes: str = "", timer_member: str = ""
    ) -> Report:
        return await self._run("WRAP_UP", org_id, agent_id, interaction_id, code, notes, timer_member)

    async def escalate(self, org_id: str, interaction_id: str, step: int, queue_name: str, member: str) -> Report:
        q = await self.queues.get(org_id, queue_name)
        if q is None or step >= len(q.escalation):
            await self.redis.zrem(keys.timers(org_id), member)
            return {}
        s = q.escalation[step]
        if s.overflow_queue:
            return await self._run("ESCALATE", org_id, interaction_id, member, "overflow", json.dumps(s.overflow_queue))
        return await self._run("ESCALATE", org_id, interaction_id, member, "relax", json.dumps(s.min_proficiency))

    async def abandon(self, org_id: str, interaction_id: str, reason: str, timer_member: str = "") -> str | None:
        """Customer left (or max wait passed); returns the state it was in, None if not live."""
        try:
            report = await self._run("ABANDON", org_id, interaction_id, reason, timer_member)
        except RoutingError as e:
            if e.code == "not_found":
                return None
            raise
        return report.get("prior")

    async def transfer(
        self,
        org_id: str,
        agent_id: str,
        interaction_id: str,
        to_queue: str | None,
        to_agent: str | None,
        preferred_ms: int = 60_000,
    ) -> Report:
        return await self._run(
            "TRANSFER", org_id, agent_id, interaction_id, to_queue or "", to_agent or "", preferred_ms
        )

    async def move(self, org_id: str, interaction_id: str, to_queue: str | None, priority: int | None) -> Report:
        return await self._run("MOVE", org_id, interaction_id, to_queue or "", "" if priority is None else priority)

    # -- agents -------------------------------------------------------------------------------

    async def login(
        self,
        org_id: str,
        agent_id: str,
        *,
        skills: dict[str, int],
        capacity: dict[str, int],
        queues: list[str],
        proficiency: dict[str, int],
        display_name: str,
    ) -> Report:
        return await self._run(
            "LOGIN",
            org_id,
            agent_id,
            json.dumps(skills) if skills else "{}",
            json.dumps(capacity),
            json.dumps(queues) if queues else "[]",
            json.dumps(proficiency) if proficiency else "{}",
            display_name,
        )

    async def logout(self, org_id: str, agent_id: str, force: bool = False) -> Report:
        return await self._run("LOGOUT", org_id, agent_id, "1" if force else "0")

    async def set_state(self, org_id: str, agent_id: str, state: str, idle_code: str | None) -> Report:
        return await self._run("SET_STATE", org_id, agent_id, state, idle_code or "")

    # -- reads --------------------------------------------------------------------------------

    async def agent_live(self, org_id: str, agent_id: str) -> dict[str, Any] | None:
        h = await self.redis.hgetall(keys.agent(org_id, agent_id))
        if not h:
            return None
        return {
            "state": h.get("state", "logged_out"),
            "idle_code": h.get("idle_code") or None,
            "load": json.loads(h.get("load") or "{}"),
            "since": int(h.get("since_state") or 0),
        }

    async def interaction_live(self, org_id: str, interaction_id: str) -> dict[str, Any] | None:
        h = await self.redis.hgetall(keys.interaction(org_id, interaction_id))
        return h or None

    async def position(self, org_id: str, queue: str, interaction_id: str) -> int | None:
        rank = await self.redis.zrank(keys.queue(org_id, queue), interaction_id)
        return None if rank is None else rank + 1
