"""Glue between the channels package and the running app.

Registers the outbound sender of every provider channel with the conversations service, runs the
outbox worker in the background, tells agent desktops about delivery statuses, and turns routing
reports into integrator events, in the transaction that records them.
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
from channels.inbound_spool import InboundSpool
from channels.model import CHANNELS, Db
from channels.outbox import OutboxWorker, enqueue_interaction_reply
from channels.settings_copy import ChannelSettingsCopy
from queues.store import RecordedReport
from switchboard import keys
from switchboard.clock import Clock, to_datetime
from switchboard.db import PG_DOWN

if TYPE_CHECKING:
    from web.context import Context
    from web.conversations import Outbound

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


def outbound_sender(ctx: Context, notify: StatusSink) -> Outbound:
    """The sender conversations call for an agent's reply: one outbox row, delivered by the worker.
    ``db`` is the transaction of a spool replay, which also holds the message row."""

    async def send(
        org_id: str, interaction_id: str, channel: str, text: str, message_id: int, db: Any = None
    ) -> None:
        conn = db if db is not None else ctx.pool
        try:
            await enqueue_interaction_reply(
                conn,
                org_id=org_id,
                interaction_id=uuid.UUID(interaction_id),
                message_id=message_id,
                text=text,
                now=ctx.clock.now(),
            )
        except LookupError as e:
            log.warning("reply_undeliverable", interaction_id=interaction_id, error=str(e))
            await conn.execute("UPDATE messages SET status='failed' WHERE id=$1", message_id)
            if db is None:  # a replay's row is not committed yet; the agent sees it in the transcript
                await notify(org_id, [message_id])

    return send


# The report parts each event type comes from: a report with none of its org's wanted parts costs
# the recorder no savepoint.
_SOURCES = {
    "interaction.created": ("decisions", "offers"),
    "interaction.offered": ("offers",),
    "interaction.connected": ("connected",),
    "interaction.completed": ("completed",),
    "interaction.abandoned": ("abandoned",),
    "agent.state_changed": ("agents",),
}
AGENT_STATE_KEEP_S = 7 * 86400
Event = tuple[str, dict[str, Any]]


class EventPublisher:
    """Routing reports → integrator events in the outbox, for every subscription that wants them.

    A hook of the report recorder (routing/recorder.py): the events are written in the transaction
    that records the reports, so an event exists iff its change committed. Which events an org
    wants is cached, so the reports of an org without subscriptions cost a dict lookup.
    """

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self.pool = pool
        self.redis = redis
        self._wanted: dict[str, tuple[float, frozenset[str]]] = {}

    def invalidate(self, org_id: str) -> None:
        self._wanted.pop(org_id, None)

    async def wanted(self, org_id: str) -> frozenset[str]:
        return (await self._load([org_id]))[org_id]

    async def _load(self, org_ids: Iterable[str], db: Db | None = None) -> dict[str, frozenset[str]]:
        """The event types each org's active subscriptions want, from the cache or one query for the rest."""
        now = time.monotonic()
        out: dict[str, frozenset[str]] = {}
        stale: list[str] = []
        for org_id in org_ids:
            hit = self._wanted.get(org_id)
            if hit is not None and hit[0] > now:
                out[org_id] = hit[1]
            elif org_id not in stale:
                stale.append(org_id)
        if not stale:
            return out
        rows = await (db or self.pool).fetch(
            "SELECT s.org_id, array_agg(DISTINCT e) AS events FROM webhook_subscriptions s, unnest(s.events) e"
            " WHERE s.org_id = ANY($1::text[]) AND s.active GROUP BY s.org_id",
            stale,
        )
        found = {r["org_id"]: frozenset(r["events"]) for r in rows}
        for org_id in stale:
            subscribed = found.get(org_id, frozenset())
            wanted = frozenset(events.EVENT_TYPES) if events.ALL_EVENTS in subscribed else subscribed
            self._wanted[org_id] = (now + SUBSCRIPTION_CACHE_S, wanted)
            out[org_id] = wanted
        return out

    # -- the recorder's hook (routing.recorder.ReportHook) --------------------------------------

    def wants(self, org_id: str, report: dict[str, Any]) -> bool:
        """Agent-only reports are recorded for orgs that want agent.state_changed (or may: stale cache)."""
        if not report.get("agents"):
            return False
        hit = self._wanted.get(org_id)
        return hit is None or hit[0] <= time.monotonic() or "agent.state_changed" in hit[1]

    async def pick(self, reports: list[RecordedReport]) -> list[RecordedReport]:
        wanted = await self._load(org_id for org_id, _, _ in reports)
        return [
            r for r in reports if any(r[1].get(part) for kind in wanted[r[0]] for part in _SOURCES[kind])
        ]

    async def write(self, conn: asyncpg.Connection, reports: list[RecordedReport]) -> None:
        """All the batch's events in one statement, inside the recorder's transaction."""
        wanted = await self._load((org_id for org_id, _, _ in reports), conn)
        created = await self._created(conn, [(o, r) for o, r, _ in reports if "interaction.created" in wanted[o]])
        moved = await self._agents_moved(
            [(o, a) for o, r, _ in reports if "agent.state_changed" in wanted[o] for a in r.get("agents") or []]
        )
        batch = [
            (org_id, kind, data, now_ms / 1000)
            for org_id, report, now_ms in reports
            for kind, data in events_of(report, created, moved)
            if kind in wanted[org_id]
        ]
        await events.publish_many(conn, batch)

    async def _created(self, conn: asyncpg.Connection, reports: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """interaction.created data by id, from the rows the transaction sees (Redis for one it lacks)."""
        new = {
            e["iid"]: org_id
            for org_id, report in reports
            for part in ("decisions", "offers")
            for e in report.get(part) or []
            if e.get("trigger") == "new"
        }
        if not new:
            return {}
        rows = await conn.fetch(
            "SELECT id, queue, channel, priority, customer_id FROM interactions WHERE id = ANY($1::uuid[])",
            [uuid.UUID(iid) for iid in new],
        )
        out: dict[str, Any] = {
            str(r["id"]): {
                "interaction_id": str(r["id"]),
                "queue": r["queue"],
                "channel": r["channel"],
                "priority": r["priority"],
                "customer_id": str(r["customer_id"]) if r["customer_id"] else None,
            }
            for r in rows
        }
        for iid, org_id in new.items():
            if iid not in out:
                out[iid] = await self._live_interaction(org_id, iid)
        return out

    async def _live_interaction(self, org_id: str, iid: str) -> dict[str, Any]:
        h = await self.redis.hmget(keys.interaction(org_id, iid), ["queue", "channel", "prio", "customer"])
        return {
            "interaction_id": iid,
            "queue": h[0],
            "channel": h[1],
            "priority": int(h[2]) if h[2] else None,
            "customer_id": h[3] or None,
        }

    async def _agents_moved(self, changes: list[tuple[str, dict[str, Any]]]) -> dict[int, str | None]:
        """By ``id()`` of each reported agent change: the previous state ("" when unknown) if state or
        idle code moved, else None. One pipeline, in report order, so an agent twice in a batch chains."""
        if not changes:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        values = []
        for org_id, a in changes:
            value = f"{a.get('state')}|{a.get('idle_code') or ''}"
            values.append(value)
            pipe.set(channel_keys.agent_event_state(org_id, a["id"]), value, get=True, ex=AGENT_STATE_KEEP_S)
        before = await pipe.execute()
        return {
            id(a): None if prev == value else (str(prev).split("|", 1)[0] if prev else "")
            for (_, a), value, prev in zip(changes, values, before, strict=True)
        }


def events_of(report: dict[str, Any], created: dict[str, Any], moved: dict[int, str | None]) -> list[Event]:
    """A report's integrator events, in order; ``created`` and ``moved`` are what the reads found."""
    out: list[Event] = []
    for d in report.get("decisions") or []:
        if d.get("trigger") == "new" and d["iid"] in created:
            out.append(("interaction.created", created[d["iid"]]))
    for o in report.get("offers") or []:
        base = {"interaction_id": o["iid"], "queue": o.get("queue"), "channel": o.get("channel")}
        if o.get("trigger") == "new" and o["iid"] in created:
            out.append(("interaction.created", created[o["iid"]]))
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
            ("interaction.abandoned", {"interaction_id": a["iid"], "queue": a.get("queue"), "reason": a.get("reason")})
        )
    for a in report.get("agents") or []:
        previous = moved.get(id(a))
        if previous is not None:
            out.append(
                (
                    "agent.state_changed",
                    {
                        "agent_id": a["id"],
                        "state": a.get("state"),
                        "idle_code": a.get("idle_code"),
                        "previous_state": previous or None,
                    },
                )
            )
    return out


def install(ctx: Context) -> EventPublisher:
    """Hook channels into a running app's conversations and router (idempotent per app)."""
    existing = ctx.extras.get("event_publisher")
    if isinstance(existing, EventPublisher):
        return existing
    notify = status_notifier(ctx)
    send = outbound_sender(ctx, notify)
    for channel in CHANNELS:
        ctx.extras["conversations"].outbound[channel] = send
    publisher = EventPublisher(ctx.pool, ctx.redis)
    ctx.router.recorder.add_hook(publisher)
    ctx.extras.update(event_publisher=publisher, message_status=notify, inbound_spool=InboundSpool(ctx.redis),
                      channel_settings=ChannelSettingsCopy())
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
    copy: ChannelSettingsCopy = ctx.extras["channel_settings"]
    try:
        await copy.refresh(ctx.pool)  # every org's, so this node can verify webhooks through an outage
    except PG_DOWN as e:  # the reconcile ticks read them once PostgreSQL answers
        log.warning("channel_settings_not_read", error=repr(e))
    if not background:
        return []
    return [asyncio.create_task(run_outbox(ctx), name="outbox-worker")]
