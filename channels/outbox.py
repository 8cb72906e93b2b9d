"""The durable outbox: agent replies and integrator events leave through PostgreSQL rows.

A row is written in the same transaction as the message (or state change) it carries, and an
``OutboxWorker`` in any process claims due rows with ``FOR UPDATE SKIP LOCKED`` and posts them.
Exactly-once delivery to a remote HTTP API is impossible in general (the response can be lost after
the provider acted), so delivery is at-least-once: every attempt of one row carries the same
``Idempotency-Key: outbox-<id>`` for providers that dedupe, and failures retry with capped,
jittered exponential backoff until the row is ``sent``, ``failed`` (refused for good) or ``dead``.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import structlog
from prometheus_client import Counter

from channels import email, events
from channels.config import ChannelConfig, get_channel_config
from channels.model import CHANNELS, Db, OutboundRequest
from channels.senders import Reply, prepare_reply
from switchboard.clock import Clock, to_datetime

log = structlog.get_logger(__name__)

DELIVERIES = Counter("switchboard_outbox_deliveries_total", "Outbox delivery attempts by outcome", ["kind", "outcome"])
IDENTITY_FOR_CHANNEL = {"sms": "phone", "whatsapp": "whatsapp", "messenger": "messenger", "email": "email"}
# Statuses worth another try: the provider (or a proxy) is overloaded, timing out or broken.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


async def enqueue(
    db: Db,
    *,
    org_id: str,
    kind: str,
    channel: str,
    payload: Mapping[str, Any],
    now: float,
    target_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    message_id: int | None = None,
    subscription_id: UUID | None = None,
    event_type: str | None = None,
) -> int:
    """Insert one due outbox row; pass the caller's transaction connection so both commit together."""
    at = to_datetime(now)
    row_id: int = await db.fetchval(
        "INSERT INTO outbox (org_id, kind, channel, target_url, payload, headers, message_id,"
        " subscription_id, event_type, next_attempt_at, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        org_id,
        kind,
        channel,
        target_url,
        dict(payload),
        dict(headers or {}),
        message_id,
        subscription_id,
        event_type,
        at,
    )
    return row_id


async def enqueue_reply(
    db: Db,
    *,
    org_id: str,
    channel: str,
    reply: Reply,
    now: float,
    message_id: int | None = None,
) -> int:
    """Queue an agent reply; ``message_id`` is the ``messages`` row to mark sent with the provider id."""
    if channel not in CHANNELS:
        raise ValueError(f"channel {channel!r} has no outbound provider")
    return await enqueue(
        db,
        org_id=org_id,
        kind="reply",
        channel=channel,
        payload=reply.model_dump(),
        now=now,
        message_id=message_id,
    )


async def enqueue_interaction_reply(
    db: Db,
    *,
    org_id: str,
    interaction_id: UUID,
    message_id: int,
    text: str,
    now: float,
    to: str | None = None,
) -> int | None:
    """Queue ``text`` back to the interaction's customer on its own channel, email threaded.

    Returns None for channels answered in-process (web chat, voice); raises LookupError when the
    customer has no identity on the channel to send to.
    """
    row = await db.fetchrow(
        "SELECT channel, customer_id FROM interactions WHERE org_id = $1 AND id = $2", org_id, interaction_id
    )
    if row is None:
        raise LookupError(f"interaction {interaction_id} not found")
    channel = row["channel"]
    if channel not in CHANNELS:
        return None
    if to is None:
        to = await db.fetchval(
            "SELECT value FROM customer_identities WHERE org_id = $1 AND customer_id = $2 AND type = $3"
            " ORDER BY value LIMIT 1",
            org_id,
            row["customer_id"],
            IDENTITY_FOR_CHANNEL[channel],
        )
        if to is None:
            raise LookupError(f"customer of {interaction_id} has no {channel} identity")
    reply = Reply(to=to, text=text)
    if channel == "email":
        thread = await email.reply_thread(db, org_id, interaction_id)
        reply = Reply(
            to=to,
            text=text,
            subject=thread.subject,
            in_reply_to=thread.in_reply_to,
            references=thread.references,
        )
    return await enqueue_reply(db, org_id=org_id, channel=channel, reply=reply, now=now, message_id=message_id)


def backoff_delay(attempts: int, rng: random.Random, base_s: float = 2.0, cap_s: float = 300.0) -> float:
    """Seconds before retry number ``attempts``: doubling, capped, with 'equal jitter' so a provider
    coming back is not hit by every queued row in the same instant."""
    ceiling = min(cap_s, base_s * 2 ** max(0, attempts - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta or HTTP date), if the provider sent one."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


class PermanentFailure(Exception):
    """The row can never succeed as it stands (no config, refused by the provider)."""


class OutboxWorker:
    """Claims due outbox rows and delivers them; run one per process, any number of processes."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        http_session: aiohttp.ClientSession,
        clock: Clock,
        *,
        max_attempts: int = 8,
        base_delay_s: float = 2.0,
        max_delay_s: float = 300.0,
        lease_s: float = 60.0,
        timeout_s: float = 15.0,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.http = http_session
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        # A claimed row is invisible for this long; if the worker dies it becomes due again.
        # Keep it well above timeout_s so a slow send is not claimed twice.
        self.lease_s = lease_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.rng = rng or random.Random()

    async def run_once(self, limit: int = 50) -> int:
        """Claim up to ``limit`` due rows, attempt each once; returns how many were attempted."""
        rows = await self._claim(limit)
        configs: dict[tuple[str, str], ChannelConfig | None] = {}
        await asyncio.gather(*(self._deliver(row, configs) for row in rows))
        return len(rows)

    async def run_forever(self, stop_event: asyncio.Event, idle_s: float = 1.0, limit: int = 50) -> None:
        """Deliver until ``stop_event`` is set, polling every ``idle_s`` when there is nothing due."""
        while not stop_event.is_set():
            try:
                attempted = await self.run_once(limit)
            except Exception:  # a database blip must not end delivery for this process
                log.exception("outbox_poll_failed")
                attempted = 0
            if attempted < limit:
                try:
                    await asyncio.wait_for(stop_event.wait(), timeout=idle_s)
                except TimeoutError:
                    pass

    async def _claim(self, limit: int) -> list[asyncpg.Record]:
        now = self.clock.now()
        rows: list[asyncpg.Record] = await self.pool.fetch(
            "WITH due AS (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1"
            " ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " UPDATE outbox o SET attempts = o.attempts + 1, next_attempt_at = $3"
            " FROM due WHERE o.id = due.id RETURNING o.*",
            to_datetime(now),
            limit,
            to_datetime(now + self.lease_s),
        )
        return rows

    async def _deliver(self, row: asyncpg.Record, configs: dict[tuple[str, str], ChannelConfig | None]) -> None:
        try:
            request, read_id = await self._prepare(row, configs)
        except (PermanentFailure, ValueError) as exc:
            await self._give_up(row, "failed", str(exc), None, None)
            return
        headers = {**row["headers"], **request.headers, "Idempotency-Key": f"outbox-{row['id']}"}
        try:
            async with self.http.post(
                request.url,
                headers=headers,
                json=request.json,
                data=request.data if request.data is not None else request.form,
                timeout=self.timeout,
            ) as resp:
                status, body = resp.status, await resp.text()
                retry_after = _retry_after(resp.headers.get("Retry-After"), self.clock.now())
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self._retry(row, f"{type(exc).__name__}: {exc}", None, None, request.url)
            return
        except Exception as exc:  # an unexpected bug must not kill the worker or lose the row
            log.exception("outbox_send_crashed", outbox_id=row["id"], org_id=row["org_id"])
            await self._retry(row, f"{type(exc).__name__}: {exc}", None, None, request.url)
            return
        if 200 <= status < 300:
            await self._mark_sent(row, status, body, read_id, request.url)
        elif status >= 500 or status in RETRYABLE_STATUS:
            await self._retry(row, f"HTTP {status}: {body[:300]}", status, retry_after, request.url)
        else:
            await self._give_up(row, "failed", f"HTTP {status}: {body[:300]}", status, request.url)

    async def _prepare(
        self, row: asyncpg.Record, configs: dict[tuple[str, str], ChannelConfig | None]
    ) -> tuple[OutboundRequest, Any]:
        now = self.clock.now()
        if row["kind"] == "event":
            sub = await self.pool.fetchrow(
                "SELECT url, secret, active FROM webhook_subscriptions WHERE id = $1", row["subscription_id"]
            )
            if sub is None or not sub["active"]:
                raise PermanentFailure("subscription_inactive")
            body = json.dumps(row["payload"], separators=(",", ":")).encode()
            request = OutboundRequest(
                url=sub["url"],
                headers={
                    "Content-Type": "application/json",
                    events.SIGNATURE_HEADER: events.sign_event(body, sub["secret"], int(now)),
                    events.EVENT_HEADER: row["event_type"] or "",
                },
                data=body,
            )
            return request, None
        key = (row["org_id"], row["channel"])
        if key not in configs:
            configs[key] = await get_channel_config(self.pool, *key)
        config = configs[key]
        if config is None:
            raise PermanentFailure("channel_not_configured")
        if not config.enabled:
            raise PermanentFailure("channel_suspended")
        prepared = prepare_reply(config, Reply.model_validate(row["payload"]), row["id"], now)
        return prepared.request, prepared.read_id

    async def _mark_sent(self, row: asyncpg.Record, status: int, body: str, read_id: Any, url: str) -> None:
        provider_id: str | None = None
        note: str | None = None
        if read_id is not None:
            try:
                provider_id = read_id(json.loads(body) if body.strip() else {})
            except (ValueError, TypeError, AttributeError) as exc:
                # The provider accepted it; sending again would duplicate, so record and move on.
                note = f"accepted but response unreadable: {exc}"
        now = to_datetime(self.clock.now())
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = $2, provider_message_id = $3,"
                " last_status_code = $4, last_error = $5, target_url = $6"
                " WHERE id = $1 AND status = 'pending'",
                row["id"],
                now,
                provider_id,
                status,
                note,
                url,
            )
            if row["message_id"] is not None:
                # A receipt can beat our own bookkeeping; never move delivered/read back to sent.
                await conn.execute(
                    "UPDATE messages SET provider_id = COALESCE($2, provider_id),"
                    " status = CASE WHEN status IN ('delivered', 'read') THEN status ELSE 'sent' END"
                    " WHERE id = $1",
                    row["message_id"],
                    provider_id,
                )
        DELIVERIES.labels(row["kind"], "sent").inc()
        log.info("outbox_sent", outbox_id=row["id"], org_id=row["org_id"], kind=row["kind"], attempts=row["attempts"])

    async def _retry(
        self, row: asyncpg.Record, error: str, status: int | None, retry_after: float | None, url: str | None
    ) -> None:
        if row["attempts"] >= self.max_attempts:
            await self._give_up(row, "dead", error, status, url)
            return
        delay = backoff_delay(row["attempts"], self.rng, self.base_delay_s, self.max_delay_s)
        if retry_after is not None:
            delay = min(self.max_delay_s, max(delay, retry_after))
        await self.pool.execute(
            "UPDATE outbox SET next_attempt_at = $3, last_error = $4, last_status_code = $5,"
            " target_url = COALESCE($6, target_url) WHERE id = $1 AND status = 'pending' AND attempts = $2",
            row["id"],
            row["attempts"],
            to_datetime(self.clock.now() + delay),
            error,
            status,
            url,
        )
        DELIVERIES.labels(row["kind"], "retry").inc()
        log.info(
            "outbox_retry",
            outbox_id=row["id"],
            org_id=row["org_id"],
            attempts=row["attempts"],
            delay_s=round(delay, 2),
            error=error,
        )

    async def _give_up(self, row: asyncpg.Record, final: str, error: str, status: int | None, url: str | None) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE outbox SET status = $2, last_error = $3, last_status_code = $4,"
                " target_url = COALESCE($5, target_url) WHERE id = $1 AND status = 'pending'",
                row["id"],
                final,
                error,
                status,
                url,
            )
            if row["message_id"] is not None:
                await conn.execute("UPDATE messages SET status = 'failed' WHERE id = $1", row["message_id"])
        DELIVERIES.labels(row["kind"], final).inc()
        log.warning(
            "outbox_gave_up",
            outbox_id=row["id"],
            org_id=row["org_id"],
            status=final,
            attempts=row["attempts"],
            error=error,
        )
