"""Glue between the channels package and the running app.

Registers the outbound sender of every provider channel with the conversations service, runs the
outbox worker in the background, tells agent desktops about delivery statuses, and turns routing
reports into integrator events.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis
import structlog

from channels import events
from channels import keys as channel_keys
from channels.model import CHANNELS
from channels.outbox import OutboxWorker, enqueue_interaction_reply
from switchboard import keys
from switchboard.clock import Clock, to_datetime

if TYPE_CHECKING:
    from web.context import Context

log = structlog.get_logger(__name__)

# Integrators see a new subscription within this long on other processes (at once on this one).
SUBSCRIPTION_CACHE_S = 5.0
OUTBOX_IDLE_S = 0.5
StatusSink = Callable[[str, Iterable[int]], Awaitable[None]]


class DeploymentOutboxWorker(OutboxWorker):
    """The app's outbox worker: delivers for the orgs this deployment serves and reports statuses.

    Served orgs are those with queues (every org that routes), which keeps a server that shares its
    database with other tools, or with a test run's own workers, off rows it does not own.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        http_session: aiohttp.ClientSession,
        clock: Clock,
        on_status: StatusSink,
        **kw: Any,
    ) -> None:
        super().__init__(pool, http_session, clock, **kw)
        self.on_status = on_status

    async def _claim(self, limit: int) -> list[asyncpg.Record]:
        now = self.clock.now()
        rows: list[asyncpg.Record] = await self.pool.fetch(
            "WITH due AS (SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= $1"
            " AND EXISTS (SELECT 1 FROM queues q WHERE q.org_id = o.org_id)"
            " ORDER BY o.next_attempt_at, o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED)"
            " UPDATE outbox o SET attempts = o.attempts + 1, next_attempt_at = $3"
            " FROM due WHERE o.id = due.id RETURNING o.*",
            to_datetime(now),
            limit,
            to_datetime(now + self.lease_s),
        )
        return rows

    async def _mark_sent(self, row: asyncpg.Record, status: int, body: str, read_id: Any, url: str) -> None:
        await super()._mark_sent(row, status, body, read_id, url)
        if row["kind"] == "reply" and row["message_id"] is not None:
            await self.on_status(row["org_id"], [row["message_id"]])

    async def _give_up(self, row: asyncpg.Record, final: str, error: str, status: int | None, url: str | None) -> None:
        await super()._give_up(row, final, error, status, url)
        if row["kind"] == "reply" and row["message_id"] is not None:
            await self.on_status(row["org_id"], [row["message_id"]])


def status_notifier(ctx: Context) -> StatusSink:
    """Emits ``message:status`` to the agent holding each message's conversation."""

    async def notify(org_id: str, message_ids: Iterable[int]) -> None:
        ids = list(message_ids)
        if not ids:
            return
        rows = await ctx.pool.fetch(
            "SELECT m.id, m.interaction_id, m.status, coalesce(m.agent_id, i.agent_id) AS agent"
            " FROM messages m JOIN interactions i ON i.id = m.interaction_id"
            " WHERE m.org_id=$1 AND m.id = ANY($2::bigint[])",
            org_id,
            ids,
        )
        for r in rows:
            if r["agent"] is None or r["status"] is None:
                continue
            await ctx.extras["delivery"].emit_to_agent(
                org_id,
                str(r["agent"]),
                "message:status",
                {
                    "interaction_id": str(r["interaction_id"]),
                    "message_id": r["id"],
                    "status": r["status"],
                },
            )

    return notify


def outbound_sender(ctx: Context, notify: StatusSink) -> Callable[[str, str, str, str, int], Awaitable[None]]:
    """The sender conversations call for an agent's reply: one outbox row, delivered by the worker."""

    async def send(org_id: str, interaction_id: str, channel: str, text: str, message_id: int) -> None:
        try:
            await enqueue_interaction_reply(
                ctx.pool,
                org_id=org_id,
                interaction_id=uuid.UUID(interaction_id),
                message_id=message_id,
                text=text,
                now=ctx.clock.now(),
            )
        except LookupError as e:
            log.warning("reply_undeliverable", interaction_id=interaction_id, error=str(e))
            await ctx.pool.execute("UPDATE messages SET status='failed' WHERE id=$1", message_id)
            await notify(org_id, [message_id])

    return send


class EventPublisher:
    """Routing reports → integrator events, queued in the outbox for every subscription that wants them."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, clock: Clock) -> None:
        self.pool = pool
        self.redis = redis
        self.clock = clock
        self._wanted: dict[str, tuple[float, frozenset[str]]] = {}

    def invalidate(self, org_id: str) -> None:
        self._wanted.pop(org_id, None)

    async def wanted(self, org_id: str) -> frozenset[str]:
        hit = self._wanted.get(org_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        rows = await self.pool.fetch(
            "SELECT DISTINCT unnest(events) AS e FROM webhook_subscriptions WHERE org_id=$1 AND active", org_id
        )
        found = frozenset(r["e"] for r in rows)
        wanted = frozenset(events.EVENT_TYPES) if events.ALL_EVENTS in found else found
        self._wanted[org_id] = (time.monotonic() + SUBSCRIPTION_CACHE_S, wanted)
        return wanted

    async def on_report(self, org_id: str, report: dict[str, Any]) -> None:
        try:
            wanted = await self.wanted(org_id)
            if not wanted:
                return
            batch = [e for e in await self.events_of(org_id, report, wanted) if e[0] in wanted]
            if not batch:
                return
            now = self.clock.now()
            async with self.pool.acquire() as conn, conn.transaction():
                for kind, data in batch:
                    await events.publish(conn, org_id, kind, data, now)
        except Exception:  # integrator events must never break routing
            log.exception("event_publish_failed", org_id=org_id)

    async def events_of(
        self, org_id: str, report: dict[str, Any], wanted: frozenset[str]
    ) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        for d in report.get("decisions") or []:
            if d.get("trigger") == "new":
                out.append(("interaction.created", await self._interaction(org_id, d["iid"])))
        for o in report.get("offers") or []:
            base = {"interaction_id": o["iid"], "queue": o.get("queue"), "channel": o.get("channel")}
            if o.get("trigger") == "new":
                out.append(("interaction.created", await self._interaction(org_id, o["iid"])))
            out.append(("interaction.offered", {**base, "agent_id": o["agent"], "rule": o.get("rule")}))
        for c in report.get("connected") or []:
            out.append(
                (
                    "interaction.connected",
                    {
                        "interaction_id": c["iid"],
                        "queue": c.get("queue"),
                        "channel": c.get("channel"),
                        "agent_id": c["agent"],
                    },
                )
            )
        for c in report.get("completed") or []:
            out.append(
                (
                    "interaction.completed",
                    {
                        "interaction_id": c["iid"],
                        "agent_id": c.get("agent"),
                        "wrap_up_code": c.get("code") or None,
                        "auto": bool(c.get("auto")),
                    },
                )
            )
        for a in report.get("abandoned") or []:
            out.append(
                (
                    "interaction.abandoned",
                    {"interaction_id": a["iid"], "queue": a.get("queue"), "reason": a.get("reason")},
                )
            )
        if "agent.state_changed" in wanted:
            for a in report.get("agents") or []:
                changed = await self._agent_changed(org_id, a["id"], a.get("state"), a.get("idle_code"))
                if changed is not None:
                    out.append(
                        (
                            "agent.state_changed",
                            {
                                "agent_id": a["id"],
                                "state": a.get("state"),
                                "idle_code": a.get("idle_code"),
                                "previous_state": changed or None,
                            },
                        )
                    )
        return out

    async def _interaction(self, org_id: str, iid: str) -> dict[str, Any]:
        h = await self.redis.hmget(keys.interaction(org_id, iid), ["queue", "channel", "prio", "customer"])
        return {
            "interaction_id": iid,
            "queue": h[0],
            "channel": h[1],
            "priority": int(h[2]) if h[2] else None,
            "customer_id": h[3] or None,
        }

    async def _agent_changed(self, org_id: str, agent_id: str, state: Any, idle_code: Any) -> str | None:
        """The previous state ("" when unknown) if state or idle code moved, else None."""
        now_value = f"{state}|{idle_code or ''}"
        before = await self.redis.set(
            channel_keys.agent_event_state(org_id, agent_id), now_value, get=True, ex=7 * 86400
        )
        if before == now_value:
            return None
        return str(before).split("|", 1)[0] if before else ""


def install(ctx: Context) -> EventPublisher:
    """Hook channels into a running app's conversations and router (idempotent per app)."""
    existing = ctx.extras.get("event_publisher")
    if isinstance(existing, EventPublisher):
        return existing
    notify = status_notifier(ctx)
    send = outbound_sender(ctx, notify)
    for channel in CHANNELS:
        ctx.extras["conversations"].outbound[channel] = send
    publisher = EventPublisher(ctx.pool, ctx.redis, ctx.clock)
    ctx.router.after_report.append(publisher.on_report)
    ctx.extras.update(event_publisher=publisher, message_status=notify)
    return publisher


async def run_outbox(ctx: Context) -> None:
    """The background outbox worker, with an HTTP session of its own, until cancelled."""
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        worker = DeploymentOutboxWorker(ctx.pool, session, ctx.clock, ctx.extras["message_status"])
        ctx.extras["outbox_worker"] = worker
        try:
            await worker.run_forever(stop, idle_s=OUTBOX_IDLE_S)
        finally:
            stop.set()
            ctx.extras.pop("outbox_worker", None)


async def start(ctx: Context, background: bool) -> list[asyncio.Task[None]]:
    install(ctx)
    if not background:
        return []
    return [asyncio.create_task(run_outbox(ctx), name="outbox-worker")]
