"""What the routing tests of integrator events share: a new interaction as the API takes it, what
reached the outbox and the interactions table, and a PostgreSQL outage as the recorder sees it."""

from __future__ import annotations

from typing import Any

import asyncpg

from channels import events
from channels.wiring import EventPublisher
from queues.model import IntakeRequest
from queues.store import RecordedReport
from routing.intake import create_interaction_idempotent
from routing.reconciler import reconcile_org

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


async def kinds(env: Any, iid: str) -> list[str]:
    """The interaction's history in ``events`` (what interval statistics are computed from)."""
    rows = await env.pool.fetch("SELECT kind FROM events WHERE interaction_id=$1::uuid ORDER BY at, id", iid)
    return [r["kind"] for r in rows]


async def state_of(env: Any, iid: str) -> str:
    state: str = await env.pool.fetchval("SELECT state FROM interactions WHERE id=$1::uuid", iid)
    return state


class PicksAll:
    """A hook acting on every report; ``write`` is what it does in the recorder's transaction."""

    def wants(self, org_id: str, report: dict[str, Any]) -> bool:
        return False

    async def pick(self, reports: list[RecordedReport]) -> list[RecordedReport]:
        return reports

    async def write(self, conn: asyncpg.Connection, reports: list[RecordedReport]) -> None:
        raise NotImplementedError


class PostgresDown(PicksAll):
    """Every recorder transaction loses its connection: the reports are deferred, as in an outage."""

    async def write(self, conn: asyncpg.Connection, reports: list[RecordedReport]) -> None:
        await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")


async def outage(env: Any) -> PostgresDown:
    down = PostgresDown()
    env.router.recorder.add_hook(down)
    return down


async def with_events(env: Any, wants: list[str] | None = None) -> EventPublisher:
    """A webhook subscription (to every event unless told), and the app's publisher hooked to the recorder."""
    await events.create_subscription(env.pool, env.org, "http://127.0.0.1:9/hook", wants or ["*"])
    publisher = EventPublisher(env.pool, env.redis)
    env.router.recorder.add_hook(publisher)
    return publisher


async def completions(env: Any) -> list[dict[str, Any]]:
    return [d for k, d in await outbox(env) if k == "interaction.completed"]


async def reconcile(env: Any) -> dict[str, int]:
    return await reconcile_org(env.pool, env.redis, env.router, env.router.queues, env.org)


async def end_row(env: Any, iid: str) -> tuple[str, str | None]:
    row = await env.pool.fetchrow("SELECT state, end_reason FROM interactions WHERE id=$1::uuid", iid)
    return row["state"], row["end_reason"]


async def connected(env: Any) -> tuple[str, str]:
    """An interaction connected to an agent, recorded so in PostgreSQL."""
    await env.queue(**SALES)
    agent = await env.agent("a", {"sales": 5})
    await with_events(env)
    iid = await intake(env, "recovered@example.test")
    await env.router.accept(env.org, agent, (await env.live(iid))["offer"])
    assert await state_of(env, iid) == "connected"
    return iid, agent
