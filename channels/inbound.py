"""What happens to a verified inbound message: dedupe, thread into an open conversation, or open one.

A message from an identity that already has an open conversation on the channel (or, for email, whose
In-Reply-To/References name one) joins it and reaches the agent live; anything else becomes a new
interaction in the queue the org's channel configuration names, acknowledged to the customer with
their place in line, or told the queue's opening hours when it is closed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
import redis.asyncio as aioredis
import structlog

from channels import email, events
from channels import keys as channel_keys
from channels.config import ChannelConfig, get_queue_hours, is_open, render_ack, render_closed
from channels.model import InboundMessage, WebhookError
from channels.outbox import enqueue_interaction_reply
from channels.phone import ensure_country_allowed
from queues import store
from queues.config import QueueCache
from queues.model import CustomerRef, Identity, IntakeRequest, MessageIn
from routing.intake import IntakeError, create_interaction_idempotent
from routing.router import Router
from switchboard.clock import Clock, to_datetime
from switchboard.redis_conn import REDIS_DOWN

log = structlog.get_logger(__name__)

# Conversations a new message joins; one in wrap-up is over for the customer, so they start anew.
THREAD_STATES = ("queued", "offered", "connected")
PHONE_IDENTITIES = ("phone", "whatsapp")
DEFAULT_CLOSED = "Thanks for your message. We are closed right now and open again {opens_at}."
MAX_TEXT = 20_000
MAX_SUBJECT = 500
LOCK_MS = 10_000

CustomerSaid = Callable[[str, str, str, datetime], Awaitable[None]]
PositionOf = Callable[[str, str, str], Awaitable[tuple[int | None, int | None]]]
Action = Literal["created", "joined", "duplicate", "closed"]


@dataclass
class InboundDeps:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    router: Router
    queues: QueueCache
    clock: Clock
    customer_said: CustomerSaid  # shows a joined message to the agent live
    position: PositionOf  # (org, queue, interaction) -> (position, estimated wait s)


@dataclass
class InboundOutcome:
    action: Action
    interaction_id: str


def idempotency_key(msg: InboundMessage) -> str:
    """The intake key of the interaction a message opens: a retried webhook finds the same one."""
    return f"{msg.channel}:{msg.provider_message_id}"


def _text(msg: InboundMessage) -> str:
    text = msg.text.strip() or "[attachment]"
    return text[:MAX_TEXT]


async def accept_message(deps: InboundDeps, config: ChannelConfig, msg: InboundMessage) -> InboundOutcome:
    """Store one inbound message exactly once; raises WebhookError for a message the org refuses."""
    if msg.channel != config.channel:
        raise WebhookError(
            422, "unsupported_channel", f"a {msg.channel} message arrived on the {config.channel} webhook"
        )
    if msg.identity_type in PHONE_IDENTITIES:
        ensure_country_allowed(msg.identity_value, config.allowed_countries)
    lock = channel_keys.inbound_lock(config.org_id, msg.identity_type, msg.identity_value)
    token = uuid.uuid4().hex
    held = await _acquire(deps.redis, lock, token)
    try:
        return await _accept_locked(deps, config, msg)
    finally:
        if held:
            await _release(deps.redis, lock, token)


async def _acquire(redis: aioredis.Redis, key: str, token: str) -> bool:
    """Best effort: if Redis is away or the lock stays busy, threading falls back to PostgreSQL alone."""
    try:
        for _ in range(100):
            if await redis.set(key, token, nx=True, px=LOCK_MS):
                return True
            await asyncio.sleep(0.05)
    except REDIS_DOWN:
        log.warning("inbound_lock_unavailable", key=key)
    return False


async def _release(redis: aioredis.Redis, key: str, token: str) -> None:
    try:
        if await redis.get(key) == token:
            await redis.delete(key)
    except REDIS_DOWN:
        pass


async def _accept_locked(deps: InboundDeps, config: ChannelConfig, msg: InboundMessage) -> InboundOutcome:
    org_id = config.org_id
    seen = await _already_seen(deps.pool, org_id, msg)
    if seen is not None:
        return InboundOutcome("duplicate", seen)
    open_id = await _open_thread(deps.pool, org_id, msg)
    if open_id is not None:
        joined = await _join(deps, org_id, open_id, msg)
        return InboundOutcome("joined" if joined else "duplicate", open_id)
    return await _open_new(deps, config, msg)


async def _already_seen(pool: asyncpg.Pool, org_id: str, msg: InboundMessage) -> str | None:
    row = await pool.fetchrow(
        "SELECT interaction_id FROM inbound_receipts WHERE org_id=$1 AND channel=$2 AND provider_message_id=$3"
        " UNION ALL SELECT id FROM interactions WHERE org_id=$1 AND idempotency_key=$4 LIMIT 1",
        org_id,
        msg.channel,
        msg.provider_message_id,
        idempotency_key(msg),
    )
    return str(row["interaction_id"]) if row else None


async def _open_thread(pool: asyncpg.Pool, org_id: str, msg: InboundMessage) -> str | None:
    """The open conversation this message continues, if any."""
    if msg.channel == "email":
        thread = await email.find_thread(pool, org_id, email.thread_keys(msg))
        if thread is not None:
            state = await pool.fetchval("SELECT state FROM interactions WHERE id=$1", thread)
            if state in THREAD_STATES:
                return str(thread)
    iid = await pool.fetchval(
        "SELECT i.id FROM customer_identities ci JOIN interactions i ON i.customer_id = ci.customer_id"
        " WHERE ci.org_id=$1 AND ci.type=$2 AND ci.value=$3 AND i.org_id=$1 AND i.channel=$4"
        " AND i.state = ANY($5::text[]) ORDER BY i.created_at DESC LIMIT 1",
        org_id,
        msg.identity_type,
        msg.identity_value,
        msg.channel,
        list(THREAD_STATES),
    )
    return str(iid) if iid else None


async def _record_receipt(conn: asyncpg.Connection, org_id: str, msg: InboundMessage, iid: str, at: datetime) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO inbound_receipts (org_id, channel, provider_message_id, interaction_id, received_at)"
        " VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING RETURNING 1",
        org_id,
        msg.channel,
        msg.provider_message_id,
        uuid.UUID(iid),
        at,
    )
    return inserted is not None


async def _join(deps: InboundDeps, org_id: str, iid: str, msg: InboundMessage) -> bool:
    at = to_datetime(deps.clock.now())
    text = _text(msg)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _record_receipt(conn, org_id, msg, iid, at):
            return False
        await conn.execute(
            "INSERT INTO messages (org_id, interaction_id, sender, text, provider_id, at)"
            " VALUES ($1,$2,'customer',$3,$4,$5)",
            org_id,
            uuid.UUID(iid),
            text,
            msg.provider_message_id,
            at,
        )
    try:
        await deps.customer_said(org_id, iid, text, at)
    except REDIS_DOWN as e:
        # stored: the agent reads it in the transcript; only the live push needs Redis
        log.warning("inbound_join_not_pushed_redis_down", interaction_id=iid, error=repr(e))
    return True


def _intake_request(config: ChannelConfig, msg: InboundMessage) -> IntakeRequest:
    return IntakeRequest(
        channel=msg.channel,
        queue=config.queue,
        customer=CustomerRef(
            identity=Identity(type=msg.identity_type, value=msg.identity_value),
            name=(msg.name or None) and msg.name[:200],
        ),
        subject=(msg.subject or None) and msg.subject[:MAX_SUBJECT],
        message=MessageIn(text=_text(msg)),
    )


async def _open_new(deps: InboundDeps, config: ChannelConfig, msg: InboundMessage) -> InboundOutcome:
    org_id = config.org_id
    now = deps.clock.now()
    hours = await get_queue_hours(deps.pool, org_id, config.queue)
    closed = hours is not None and not is_open(hours, now)
    if closed and hours is not None and hours.closed_action == "close":
        iid = await _create_closed(deps, config, msg)
        if iid is None:
            seen = await _already_seen(deps.pool, org_id, msg)
            return InboundOutcome("duplicate", seen or "")
        await _auto_reply(deps, org_id, iid, render_closed(config.closed_template or DEFAULT_CLOSED, hours, now))
        return InboundOutcome("closed", iid)
    try:
        result = await create_interaction_idempotent(
            deps.pool,
            deps.router,
            deps.queues,
            deps.clock,
            org_id,
            _intake_request(config, msg),
            idempotency_key=idempotency_key(msg),
            created_by=f"webhook:{msg.channel}",
        )
    except IntakeError as e:
        # The org's channel points at a queue that cannot take it: the provider should retry later.
        log.error("inbound_intake_refused", org_id=org_id, channel=msg.channel, code=e.code, error=e.message)
        raise WebhookError(503, "channel_misconfigured", f"channel {msg.channel}: {e.message}") from e
    iid = str(result.record["id"])
    await _mark_first_message(deps.pool, org_id, msg, iid, to_datetime(now))
    if not result.created:
        return InboundOutcome("duplicate", iid)
    if closed and hours is not None:
        # "hold": the interaction waits in its queue; agents who log in at opening time get it.
        await _auto_reply(deps, org_id, iid, render_closed(config.closed_template or DEFAULT_CLOSED, hours, now))
    elif config.ack_template:
        try:
            position, wait_s = await deps.position(org_id, config.queue, iid)
        except REDIS_DOWN as e:
            # stored, queued once Redis is back: its place in line is not known, so none is promised
            log.warning("inbound_ack_skipped_redis_down", interaction_id=iid, error=repr(e))
            return InboundOutcome("created", iid)
        await _auto_reply(deps, org_id, iid, render_ack(config.ack_template, position or 1, wait_s or 0))
    return InboundOutcome("created", iid)


async def _mark_first_message(pool: asyncpg.Pool, org_id: str, msg: InboundMessage, iid: str, at: datetime) -> None:
    """Intake stores the first message without the provider's id; email threading needs it there."""
    async with pool.acquire() as conn, conn.transaction():
        await _record_receipt(conn, org_id, msg, iid, at)
        await conn.execute(
            "UPDATE messages SET provider_id=$3 WHERE id = (SELECT min(id) FROM messages"
            " WHERE org_id=$1 AND interaction_id=$2 AND sender='customer') AND provider_id IS NULL",
            org_id,
            uuid.UUID(iid),
            msg.provider_message_id,
        )


async def _create_closed(deps: InboundDeps, config: ChannelConfig, msg: InboundMessage) -> str | None:
    """Record the message as an interaction abandoned with reason ``closed``; it is never queued."""
    org_id = config.org_id
    now = deps.clock.now()
    at = to_datetime(now)
    iid = str(uuid.uuid4())
    req = _intake_request(config, msg)
    async with deps.pool.acquire() as conn, conn.transaction():
        new = store.NewInteraction(
            id=iid,
            org_id=org_id,
            channel=msg.channel,
            queue=config.queue,
            priority=0,
            skills={},
            subject=req.subject,
            identity_type=msg.identity_type,
            identity_value=msg.identity_value,
            customer_name=req.customer.name,
            idempotency_key=idempotency_key(msg),
            created_by=f"webhook:{msg.channel}",
            created_at=at,
            first_message=req.message.text if req.message else None,
        )
        row, c = await store.insert(conn, new, vip_priority=0)
        if row is None:
            return None
        await conn.execute(
            "UPDATE interactions SET state='abandoned', end_reason='closed', ended_at=$2 WHERE id=$1",
            uuid.UUID(iid),
            at,
        )
        await conn.execute(
            "INSERT INTO events (org_id, at, kind, interaction_id, queue, data) VALUES ($1,$2,'abandoned',$3,$4,$5)",
            org_id,
            at,
            uuid.UUID(iid),
            config.queue,
            {"reason": "closed"},
        )
        data: dict[str, Any] = {
            "interaction_id": iid,
            "queue": config.queue,
            "channel": msg.channel,
            "customer_id": c.id,
        }
        await events.publish(conn, org_id, "interaction.created", data, now)
        await events.publish(conn, org_id, "interaction.abandoned", {**data, "reason": "closed"}, now)
    await _mark_first_message(deps.pool, org_id, msg, iid, at)
    return iid


async def _auto_reply(deps: InboundDeps, org_id: str, iid: str, text: str) -> None:
    """A system message in the transcript, sent to the customer through the outbox with it."""
    now = deps.clock.now()
    try:
        async with deps.pool.acquire() as conn, conn.transaction():
            mid = await store.add_message(conn, org_id, iid, "system", None, text, to_datetime(now))
            await enqueue_interaction_reply(
                conn, org_id=org_id, interaction_id=uuid.UUID(iid), message_id=mid, text=text, now=now
            )
    except LookupError as e:
        log.warning("auto_reply_skipped", interaction_id=iid, error=str(e))
