"""Integrator webhooks: subscriptions, signed event deliveries through the outbox, and their log.

Each delivery is signed in ``Switchboard-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">``
with the subscription's secret; the timestamp is the attempt's, so receivers can refuse replays.
Delivery is at-least-once: receivers dedupe on the event ``id`` (or ``Idempotency-Key``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from channels.model import Db
from switchboard.clock import to_datetime

SIGNATURE_HEADER = "Switchboard-Signature"
EVENT_HEADER = "Switchboard-Event"
EVENT_TYPES = frozenset(
    {
        "interaction.created",
        "interaction.offered",
        "interaction.connected",
        "interaction.completed",
        "interaction.abandoned",
        "agent.state_changed",
    }
)
ALL_EVENTS = "*"
SIGNATURE_TOLERANCE_S = 300


class Subscription(BaseModel):
    """A registered integrator endpoint; its secret is shown once, at creation."""

    id: UUID
    org_id: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime


def sign_event(body: bytes, secret: str, timestamp: int) -> str:
    """The ``Switchboard-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_event(
    body: bytes, header: str | None, secret: str, now: float, tolerance_s: int = SIGNATURE_TOLERANCE_S
) -> bool:
    """What an integrator runs on receipt: signature matches and is recent (any ``v1`` may match)."""
    if not header:
        return False
    fields = [part.strip().partition("=") for part in header.split(",")]
    stamps = [v for k, _, v in fields if k == "t"]
    given = [v for k, _, v in fields if k == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not given:
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign_event(body, secret, timestamp).partition(",v1=")[2]
    return any(hmac.compare_digest(expected, g) for g in given)


def _check_types(events: Iterable[str]) -> list[str]:
    out = list(events)
    unknown = [e for e in out if e != ALL_EVENTS and e not in EVENT_TYPES]
    if unknown or not out:
        raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)} or '*'")
    return out


async def create_subscription(
    db: Db, org_id: str, url: str, events: Iterable[str], secret: str | None = None
) -> tuple[Subscription, str]:
    """Register ``url`` for ``events``; returns the subscription and its signing secret."""
    secret = secret or "whsec_" + secrets.token_urlsafe(32)
    row = await db.fetchrow(
        "INSERT INTO webhook_subscriptions (id, org_id, url, secret, events) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id, org_id, url, events, active, created_at",
        uuid.uuid4(),
        org_id,
        url,
        secret,
        _check_types(events),
    )
    return Subscription.model_validate(dict(row)), secret


async def list_subscriptions(db: Db, org_id: str) -> list[Subscription]:
    rows = await db.fetch(
        "SELECT id, org_id, url, events, active, created_at FROM webhook_subscriptions"
        " WHERE org_id = $1 ORDER BY created_at, id",
        org_id,
    )
    return [Subscription.model_validate(dict(r)) for r in rows]


async def set_subscription_active(db: Db, org_id: str, subscription_id: UUID, active: bool) -> bool:
    """Pause or resume a subscription; pending deliveries of a paused one fail rather than send."""
    status = await db.execute(
        "UPDATE webhook_subscriptions SET active = $3 WHERE org_id = $1 AND id = $2",
        org_id,
        subscription_id,
        active,
    )
    return status.endswith(" 1")


async def publish(db: Db, org_id: str, event_type: str, data: Any, now: float) -> list[int]:
    """Queue ``event_type`` for every active subscription that wants it; returns the outbox ids.

    Pass the connection of the transaction that made the change, so the event exists iff it committed.
    """
    return await publish_many(db, [(org_id, event_type, data, now)])


async def publish_many(db: Db, batch: Sequence[tuple[str, str, Any, float]]) -> list[int]:
    """Queue each ``(org_id, event_type, data, at)`` for its org's active subscriptions that want it,
    in one statement and in order; returns the outbox ids."""
    if not batch:
        return []
    _check_types(event_type for _, event_type, _, _ in batch)
    orgs: list[str] = []
    types: list[str] = []
    payloads: list[dict[str, Any]] = []
    stamps: list[datetime] = []
    for org_id, event_type, data, now in batch:
        at = to_datetime(now)
        orgs.append(org_id)
        types.append(event_type)
        stamps.append(at)
        payloads.append(
            {
                "id": "evt_" + uuid.uuid4().hex,
                "type": event_type,
                "created_at": at.isoformat(),
                "org_id": org_id,
                "data": to_jsonable_python(data),
            }
        )
    rows = await db.fetch(
        "INSERT INTO outbox (org_id, kind, channel, target_url, payload, subscription_id, event_type,"
        " next_attempt_at, created_at)"
        " SELECT e.org_id, 'event', 'webhook', s.url, e.payload, s.id, e.event_type, e.at, e.at"
        " FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[])"
        " WITH ORDINALITY AS e(org_id, event_type, payload, at, n)"
        " JOIN webhook_subscriptions s ON s.org_id = e.org_id AND s.active"
        " AND (e.event_type = ANY(s.events) OR '*' = ANY(s.events))"
        " ORDER BY e.n, s.created_at, s.id RETURNING id",
        orgs,
        types,
        payloads,
        stamps,
    )
    return [r["id"] for r in rows]


async def delivery_log(db: Db, org_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The org's latest event deliveries, newest first, for the admin screen and integrators."""
    rows = await db.fetch(
        "SELECT * FROM webhook_deliveries WHERE org_id = $1 ORDER BY id DESC LIMIT $2", org_id, limit
    )
    return [dict(r) for r in rows]
