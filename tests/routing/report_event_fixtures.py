"""What the routing tests of integrator events share: a new interaction as the API takes it, and
what reached the outbox and the interactions table."""

from __future__ import annotations

from typing import Any

from queues.model import IntakeRequest
from routing.intake import create_interaction_idempotent

SALES = {"name": "sales", "channels": ["chat"], "skills": {"sales": 1}}


async def intake(env: Any, who: str) -> str:
    """A new interaction as the API takes it: its row committed, then queued and routed."""
    req = IntakeRequest.model_validate(
        {"channel": "chat", "queue": "sales", "priority": 3, "customer": {"identity": {"type": "email", "value": who}}}
    )
    result = await create_interaction_idempotent(
        env.pool, env.router, env.router.queues, env.clock, env.org, req, idempotency_key=None, created_by="test"
    )
    return str(result.record["id"])


async def outbox(env: Any) -> list[tuple[str, dict[str, Any]]]:
    """(event type, data) of the org's integrator events, in the order they were queued."""
    rows = await env.pool.fetch(
        "SELECT event_type, payload FROM outbox WHERE org_id=$1 AND kind='event' ORDER BY id", env.org
    )
    return [(r["event_type"], r["payload"]["data"]) for r in rows]


async def state_of(env: Any, iid: str) -> str:
    state: str = await env.pool.fetchval("SELECT state FROM interactions WHERE id=$1::uuid", iid)
    return state
