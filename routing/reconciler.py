"""Rebuild missing live state from PostgreSQL, the record of truth.

Interactions open in PostgreSQL but absent from Redis (a flushed or restored Redis, a process
killed between commit and enqueue) are queued again at their original place. Conversations that
were live when Redis lost them go back to the queue too, so a customer is never left without an
agent; ones in wrap-up are completed.

Reports that waited in Redis for PostgreSQL (routing/spool.py) are written first, so what they
record is recorded as it happened. The ends left over (their reports lost with a killed process,
or with both stores down) are recorded as ``recovered``; they publish the integrator events their
reports could not, in the UPDATE's transaction, and only from the node whose UPDATE changed the row.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import structlog

from queues import store
from queues.config import QueueCache, publish_all
from routing import active_orgs
from routing.intake import enqueue_record
from routing.router import Router
from switchboard import keys
from switchboard.clock import ms

log = structlog.get_logger(__name__)
# Longer than a routing report takes to commit, even under load (group commits take milliseconds).
SETTLE_S = 2.0


async def reconcile_org(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    router: Router,
    queues: QueueCache,
    org_id: str,
    settle_s: float = SETTLE_S,
) -> dict[str, int]:
    await router.recorder.replay_spooled(org_id)
    configs = {q.name: q for q in await publish_all(pool, redis, org_id)}
    rows = await pool.fetch(
        "SELECT i.id, i.org_id, i.channel, i.queue, i.state, i.agent_id, i.priority, i.skills, i.subject,"
        " i.customer_id,"
        " i.enqueued_at, c.name AS customer_name FROM interactions i LEFT JOIN customers c ON c.id = i.customer_id"
        " WHERE i.org_id=$1 AND i.state IN ('queued','offered','connected','wrap_up') ORDER BY i.enqueued_at",
        org_id,
    )
    pipe = redis.pipeline(transaction=False)
    for r in rows:
        pipe.hmget(keys.interaction(org_id, str(r["id"])), ["state", "agent"])
    live_states = await pipe.execute() if rows else []
    counts = {"requeued": 0, "completed": 0, "present": 0, "synced": 0}
    ended: list[tuple[asyncpg.Record, str, str | None]] = []
    for r, (live, live_agent) in zip(rows, live_states, strict=True):
        if live in ("completed", "abandoned"):
            ended.append((r, live, live_agent))
            continue
        if live:
            counts["present"] += 1
            continue
        if r["state"] == "wrap_up":
            await _record_end(
                pool,
                router,
                org_id,
                r,
                "completed",
                None,
                "UPDATE interactions SET state='completed', completed_at=now(),"
                " end_reason=coalesce(end_reason,'recovered') WHERE id=$1 AND state='wrap_up'",
                r["id"],
            )
            counts["completed"] += 1
            continue
        q = configs.get(r["queue"])
        if q is None:
            continue
        await pool.execute("UPDATE interactions SET state='queued', agent_id=NULL, live_version=0 WHERE id=$1", r["id"])
        await enqueue_record(router, q, r, customer_name=r["customer_name"])
        counts["requeued"] += 1
    if ended:
        # Redis finished these while PostgreSQL was unreachable, or a moment ago with the report's commit
        # still in flight: let such commits land first (the UPDATE then finds the row moved and leaves
        # it, and its events, to the report), then record the ends the outage left, never re-routing them.
        await asyncio.sleep(settle_s)
        await router.recorder.replay_spooled(org_id)  # spooled meanwhile by a node PostgreSQL just failed
        for r, live, live_agent in ended:
            await _record_end(
                pool,
                router,
                org_id,
                r,
                live,
                live_agent,
                "UPDATE interactions SET state=$2,"
                " completed_at=CASE WHEN $2='completed' THEN coalesce(completed_at, now()) END,"
                " end_reason=coalesce(end_reason, 'recovered') WHERE id=$1 AND state=$3",
                r["id"],
                live,
                r["state"],
            )
            counts["synced"] += 1
    if counts["requeued"] or counts["completed"] or counts["synced"]:
        log.info("reconciled", org_id=org_id, **counts)
    return counts


async def _record_end(
    pool: asyncpg.Pool,
    router: Router,
    org_id: str,
    row: asyncpg.Record,
    state: str,
    live_agent: str | None,
    update: str,
    *args: Any,
) -> None:
    """Run ``update`` and, if it changed the row, write the end's event row and the recorder's hooks
    on it, in one transaction: a second reconcile, or another node's, finds the row moved and adds
    nothing."""
    async with pool.acquire() as conn, conn.transaction():
        if await conn.execute(update, *args) != "UPDATE 1":
            return
        reports = [(org_id, {state: [_end_entry(row, state, live_agent)]}, ms(router.clock.now()))]
        await store.record_events(conn, reports)
        await router.recorder.run_hooks(conn, reports)


def _end_entry(row: asyncpg.Record, state: str, live_agent: str | None) -> dict[str, Any]:
    """A report's ``completed``/``abandoned`` entry as the routing scripts write it, for a recovered end."""
    entry: dict[str, Any] = {
        "iid": str(row["id"]),
        "queue": row["queue"],
        "channel": row["channel"],
        "reason": "recovered",
    }
    if state == "completed":
        agent = live_agent or (str(row["agent_id"]) if row["agent_id"] else None)
        entry.update(agent=agent, code="", auto=True)
    return entry


async def reconcile_all(
    pool: asyncpg.Pool, redis: aioredis.Redis, router: Router, queues: QueueCache
) -> dict[str, int]:
    """Reconcile every org, then put back in the active-org set the orgs with live routing work.

    A requeued interaction's org is added by its enqueue; an org whose Redis already holds timers or
    online agents is added here, which also repairs the set after anything that left it short (a
    poller killed while an org was on probation). An org whose waiting interactions have no timers
    and whose agents are all logged out is left out: nothing can route them before a login, and a
    login adds the org."""
    total = {"requeued": 0, "completed": 0, "present": 0, "synced": 0}
    org_ids = [r["id"] for r in await pool.fetch("SELECT id FROM orgs ORDER BY id")]
    for org_id in org_ids:
        for k, v in (await reconcile_org(pool, redis, router, queues, org_id)).items():
            total[k] += v
    await active_orgs.add_busy(redis, org_ids)
    return total
