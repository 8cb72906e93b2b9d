"""Intake: a new interaction is durable in PostgreSQL first, then queued (and routed) in Redis.

If Redis is unreachable after the commit, the interaction is still accepted: the reconciler
queues every PostgreSQL-open interaction that Redis lacks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from redis.exceptions import RedisError

from customers import store as customers
from queues import store
from queues.config import QueueCache, escalation_timers
from queues.model import IntakeRequest, QueueConfig, required_skills
from routing import active_orgs
from routing.metrics import INTERACTIONS_CREATED
from routing.router import Router
from switchboard.clock import Clock, ms, to_datetime

log = structlog.get_logger(__name__)
VIP_PRIORITY = 8
# How long a new interaction is held for its customer's last agent on the first routing attempts.
LAST_AGENT_FIRST_MS = 5_000


class IntakeError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class IntakeResult:
    record: Mapping[str, Any]  # the interactions row
    created: bool
    # where ENQUEUE put it: state, queue and, while waiting, position and members (agents serving)
    placed: Mapping[str, Any] | None = None


def preferred_agent(q: QueueConfig, c: customers.CustomerRouting, now: float) -> tuple[str | None, int]:
    """The customer's last agent, offered first if they served them within the queue's window."""
    if not q.last_agent_window_s or not c.last_agent_id or not c.last_agent_at:
        return None, 0
    if now - c.last_agent_at.timestamp() > q.last_agent_window_s:
        return None, 0
    return c.last_agent_id, ms(now) + LAST_AGENT_FIRST_MS


async def create_interaction_idempotent(
    pool: asyncpg.Pool,
    router: Router,
    queues: QueueCache,
    clock: Clock,
    org_id: str,
    req: IntakeRequest,
    *,
    idempotency_key: str | None,
    created_by: str,
) -> IntakeResult:
    """Durable first, then queued; the same Idempotency-Key always answers with the same interaction."""
    q = await queues.get(org_id, req.queue)
    if q is None:
        raise IntakeError(422, "unknown_queue", f"no queue named {req.queue!r}")
    if req.channel not in q.channels:
        raise IntakeError(422, "channel_not_accepted", f"queue {q.name!r} does not take {req.channel}")
    if idempotency_key:
        existing = await store.find_by_idempotency_key(pool, org_id, idempotency_key)
        if existing is not None:
            return IntakeResult(existing, False)
    now = clock.now()
    iid = str(uuid.uuid4())
    structlog.contextvars.bind_contextvars(interaction_id=iid, org_id=org_id)
    new = store.NewInteraction(
        id=iid,
        org_id=org_id,
        channel=req.channel,
        queue=q.name,
        priority=req.priority,
        skills=req.skills,
        subject=req.subject,
        identity_type=req.customer.identity.type,
        identity_value=req.customer.identity.value,
        customer_name=req.customer.name,
        idempotency_key=idempotency_key,
        created_by=created_by,
        created_at=to_datetime(now),
        first_message=req.message.text if req.message else None,
    )
    record, c = await router.intake_writer.submit((new, VIP_PRIORITY))
    if record is None:
        # a concurrent request with the same key won the insert: answer with its interaction
        existing = await store.find_by_idempotency_key(pool, org_id, idempotency_key or "")
        assert existing is not None
        return IntakeResult(existing, False)
    INTERACTIONS_CREATED.labels(org_id, req.channel).inc()
    log.info("interaction_created", queue=q.name, channel=req.channel)
    pref, pref_until = preferred_agent(q, c, now)
    placed = None
    try:
        placed = await enqueue_record(
            router, q, record, customer_name=c.name, preferred=pref, preferred_until_ms=pref_until
        )
    except RedisError as e:
        log.warning("enqueue_failed_reconciler_will_retry", interaction_id=iid, error=repr(e))
        router.unplaced.add(org_id)
    return IntakeResult(record, True, placed)


async def enqueue_record(
    router: Router,
    q: QueueConfig,
    record: Any,
    *,
    customer_name: str | None,
    preferred: str | None = None,
    preferred_until_ms: int = 0,
) -> dict[str, Any]:
    """Queue a PostgreSQL interaction row in Redis at its original place (idempotent); returns the
    script's report. Its org goes into the active-org set, where the timer pollers look."""
    iid = str(record["id"])
    enq_ms = ms(record["enqueued_at"].timestamp())
    enqueue = router.enqueue(
        record["org_id"],
        interaction_id=iid,
        queue=record["queue"],
        channel=record["channel"],
        priority=record["priority"],
        enqueued_ms=enq_ms,
        required=required_skills(q.skills, record["skills"] or {}),
        extra=record["skills"] or {},
        preferred_agent=preferred,
        preferred_until_ms=preferred_until_ms,
        customer_id=str(record["customer_id"]) if record["customer_id"] else None,
        customer_name=customer_name,
        subject=record["subject"],
        timers=escalation_timers(q, iid, enq_ms),
    )
    return await active_orgs.while_active(router.redis, record["org_id"], enqueue)
