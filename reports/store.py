"""Interval statistics in PostgreSQL: recomputed from ``events`` and kept in ``interval_stats``.

A rollup recomputes whole intervals (delete then insert, under a per-org advisory lock), so it
can run again over the same range at any time. ``interval_rollups.rolled_until`` records, per
org, the moment before which every event has been rolled; requests past it roll on demand.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from reports.intervals import Event, IntervalReport, compute_intervals, interval_start

# Events are written a few milliseconds after the moment they record; rolling "now" claims only
# what is this much older, so the next rollup covers anything still in flight.
SETTLE = timedelta(seconds=10)
# A long first rollup (a backfill) works through the history a day at a time.
CHUNK = timedelta(days=1)
# A conversation open across a window's start is found among interactions created this far back.
LONGEST_CONVERSATION = timedelta(days=2)


@dataclass(frozen=True)
class StoredInterval:
    interval_start: datetime
    key: str
    figures: dict[str, Any]


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


async def org_zone(conn: asyncpg.Pool | asyncpg.Connection, org_id: str) -> ZoneInfo:
    return zone(await conn.fetchval("SELECT timezone FROM orgs WHERE id=$1", org_id))


async def rolled_until(conn: asyncpg.Pool | asyncpg.Connection, org_id: str) -> datetime | None:
    return await conn.fetchval("SELECT rolled_until FROM interval_rollups WHERE org_id=$1", org_id)


async def rollup(pool: asyncpg.Pool, org_id: str, since: datetime, until: datetime,
                 now: datetime | None = None) -> int:
    """Recompute every interval from the one holding ``since`` up to ``until``; returns rows written.

    ``now`` bounds conversations still open and, less ``SETTLE``, how far the org's rolled-until
    mark may move; without it the range is taken as past and settled.
    """
    settled = until if now is None else min(until, now - SETTLE)
    now = now or until
    until = min(until, now)
    tz = await org_zone(pool, org_id)
    written = 0
    lo = interval_start(since, tz).astimezone(UTC)
    while lo < until:
        hi = min(lo + CHUNK, until)
        written += await _rollup_chunk(pool, org_id, tz, lo, hi, now, settled)
        lo = hi
    return written


async def _rollup_chunk(pool: asyncpg.Pool, org_id: str, tz: ZoneInfo, lo: datetime, hi: datetime,
                        now: datetime, settled: datetime) -> int:
    async with pool.acquire() as conn, conn.transaction():
        # one rollup of an org at a time; reading after the lock sees the other's writes
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('interval_stats:' || $1, 0))",
                           org_id)
        report = await _compute(conn, org_id, tz, lo, hi, now)
        await conn.execute(
            "DELETE FROM interval_stats WHERE org_id=$1 AND interval_start >= $2 AND interval_start < $3",
            org_id, lo, hi,
        )
        rows = [(org_id, slot, "queue", q, fig.as_json()) for (slot, q), fig in report.queues.items()]
        rows += [(org_id, slot, "agent", a, fig.as_json()) for (slot, a), fig in report.agents.items()]
        if rows:
            await conn.executemany(
                "INSERT INTO interval_stats (org_id, interval_start, kind, key, figures)"
                " VALUES ($1,$2,$3,$4,$5)"
                " ON CONFLICT (org_id, interval_start, kind, key)"
                " DO UPDATE SET figures=EXCLUDED.figures, updated_at=now()",
                rows,
            )
        await _advance(conn, org_id, lo, min(hi, settled))
        return len(rows)


async def _advance(conn: asyncpg.Connection, org_id: str, since: datetime, upto: datetime) -> None:
    """Move the rolled-until mark, but only over a contiguous range (never past an unrolled gap)."""
    mark = await rolled_until(conn, org_id)
    if mark is None:
        first = await conn.fetchval("SELECT min(at) FROM events WHERE org_id=$1", org_id)
        if first is not None and since > first:
            return
    elif since > mark or upto <= mark:
        return
    await conn.execute(
        "INSERT INTO interval_rollups (org_id, rolled_until) VALUES ($1,$2) ON CONFLICT (org_id)"
        " DO UPDATE SET rolled_until=GREATEST(interval_rollups.rolled_until, EXCLUDED.rolled_until),"
        " updated_at=now()",
        org_id, upto,
    )


async def _compute(conn: asyncpg.Connection, org_id: str, tz: ZoneInfo, lo: datetime, hi: datetime,
                   now: datetime) -> IntervalReport:
    touched = await conn.fetch(
        "SELECT DISTINCT interaction_id FROM events WHERE org_id=$1 AND at >= $2 AND at < $3"
        " AND interaction_id IS NOT NULL",
        org_id, lo, hi,
    )
    # conversations that span the whole window leave no event in it but keep their agent busy
    spanning = await conn.fetch(
        "SELECT id FROM interactions WHERE org_id=$1 AND created_at >= $2 AND created_at < $3"
        " AND connected_at < $3"
        " AND (completed_at >= $4 OR (completed_at IS NULL AND state IN ('connected', 'wrap_up')))",
        org_id, lo - LONGEST_CONVERSATION, hi, lo,
    )
    ids = list({r["interaction_id"] for r in touched} | {r["id"] for r in spanning})
    if not ids:
        return IntervalReport()
    rows = await conn.fetch(
        "SELECT id, at, kind, interaction_id, agent_id, queue, data FROM events"
        " WHERE org_id=$1 AND interaction_id = ANY($2::uuid[]) AND at < $3 ORDER BY at, id",
        org_id, ids, hi,
    )
    enq = {str(r["id"]): r["enqueued_at"] for r in await conn.fetch(
        "SELECT id, enqueued_at FROM interactions WHERE org_id=$1 AND id = ANY($2::uuid[])", org_id, ids)}
    levels = {r["name"]: r["service_level_s"] for r in await conn.fetch(
        "SELECT name, service_level_s FROM queues WHERE org_id=$1", org_id)}
    events = [
        Event(at=r["at"], kind=r["kind"], interaction_id=str(r["interaction_id"]),
              agent_id=str(r["agent_id"]) if r["agent_id"] else None, queue=r["queue"], data=r["data"] or {},
              seq=r["id"])
        for r in rows
    ]
    return compute_intervals(events, tz=tz, since=lo, until=hi, service_levels=levels, enqueued_at=enq,
                             now=min(now, hi))


async def ensure_rolled(pool: asyncpg.Pool, org_id: str, upto: datetime, now: datetime) -> int:
    """Roll whatever the org has not rolled yet up to ``upto`` (no more than ``now``)."""
    mark = await rolled_until(pool, org_id)
    if mark is None:
        since = await pool.fetchval("SELECT min(at) FROM events WHERE org_id=$1", org_id)
        if since is None:
            return 0
    elif upto > mark:
        since = mark
    else:
        return 0
    until = min(upto, now)
    if since >= until:
        return 0
    return await rollup(pool, org_id, since, until, now=now)


async def fetch_intervals(pool: asyncpg.Pool, org_id: str, kind: str, frm: datetime, to: datetime,
                          key: str | None = None) -> list[StoredInterval]:
    """Stored intervals whose start lies in [interval holding ``frm``, ``to``), oldest first."""
    tz = await org_zone(pool, org_id)
    lo = interval_start(frm, tz)
    args: list[Any] = [org_id, kind, lo, to]
    where = "org_id=$1 AND kind=$2 AND interval_start >= $3 AND interval_start < $4"
    if key:
        args.append(key)
        where += " AND key=$5"
    rows = await pool.fetch(
        f"SELECT interval_start, key, figures FROM interval_stats WHERE {where}"
        " ORDER BY interval_start, key",
        *args,
    )
    return [StoredInterval(r["interval_start"].astimezone(tz), r["key"], r["figures"]) for r in rows]


async def agent_names(pool: asyncpg.Pool, org_id: str, ids: list[str]) -> dict[str, str]:
    valid = []
    for i in ids:
        try:
            valid.append(uuid.UUID(i))
        except ValueError:
            continue
    rows = await pool.fetch("SELECT id, display_name FROM users WHERE org_id=$1 AND id = ANY($2::uuid[])",
                            org_id, valid)
    return {str(r["id"]): r["display_name"] for r in rows}
