"""The PostgreSQL record of interactions: durable intake, state history, transcripts, decisions.

Redis holds the live state; every routing script reports what changed, and ``apply_reports``
writes it here in Redis order (each change carries the interaction's live version).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from customers.store import CustomerRouting
from switchboard import jsonwire
from switchboard.clock import to_datetime

COLUMNS = (
    "id, org_id, channel, queue, original_queue, state, priority, skills, subject, customer_id, agent_id,"
    " created_at, enqueued_at, offered_at, connected_at, ended_at, completed_at, wrap_up_code, wrap_up_notes,"
    " end_reason, idempotency_key"
)


@dataclass
class NewInteraction:
    """An interaction as intake hands it to PostgreSQL; the customer is found by identity there."""

    id: str
    org_id: str
    channel: str
    queue: str
    priority: int | None  # as requested; a VIP customer's may be raised
    skills: dict[str, int]
    subject: str | None
    identity_type: str
    identity_value: str
    customer_name: str | None
    idempotency_key: str | None
    created_by: str
    created_at: datetime
    first_message: str | None = None


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


def to_public(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "channel": row["channel"],
        "queue": row["queue"],
        "original_queue": row["original_queue"],
        "state": row["state"],
        "priority": row["priority"],
        "skills": row["skills"],
        "subject": row["subject"],
        "customer_id": str(row["customer_id"]) if row["customer_id"] else None,
        "agent_id": str(row["agent_id"]) if row["agent_id"] else None,
        "created_at": _iso(row["created_at"]),
        "enqueued_at": _iso(row["enqueued_at"]),
        "offered_at": _iso(row["offered_at"]),
        "connected_at": _iso(row["connected_at"]),
        "ended_at": _iso(row["ended_at"]),
        "completed_at": _iso(row["completed_at"]),
        "wrap_up_code": row["wrap_up_code"],
        "wrap_up_notes": row["wrap_up_notes"],
        "end_reason": row["end_reason"],
    }


async def find_by_idempotency_key(conn: asyncpg.Connection, org_id: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM interactions WHERE org_id=$1 AND idempotency_key=$2", org_id, key
    )


_INTAKE_MANY = """
SELECT r.* FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
                       $14::timestamptz[], $15::text[])
       WITH ORDINALITY AS t(id, org, channel, queue, prio, vip, skills, subject, itype, ivalue, cname, ikey,
                            created_by, at, msg, n)
 CROSS JOIN LATERAL intake_interaction(t.id, t.org, t.channel, t.queue, t.prio, t.vip, t.skills::jsonb,
                                       t.subject, t.itype, t.ivalue, t.cname, t.ikey, t.created_by, t.at,
                                       t.msg) AS r
 ORDER BY t.n
"""
Intake = tuple[NewInteraction, int]  # the interaction and the priority a VIP customer waits at
Inserted = tuple[dict[str, Any] | None, CustomerRouting]


async def insert(conn: asyncpg.Pool | asyncpg.Connection, new: NewInteraction, vip_priority: int) -> Inserted:
    """Resolve the customer and insert the queued interaction, its event and first message
    (``intake_interaction``, migration 0006). The row is None when the idempotency key was already used."""
    return (await insert_many(conn, [(new, vip_priority)]))[0]


async def insert_many(conn: asyncpg.Pool | asyncpg.Connection, items: list[Intake]) -> list[Inserted]:
    """Several intakes in one statement, so one transaction: one round trip and one commit for a
    batch. Run in (org, identity) order, so that two batches creating the same customers take their
    locks in the same order and cannot deadlock; results come back in the callers' order."""
    order = sorted(range(len(items)), key=lambda i: _lock_order(items[i][0]))
    run = [items[i] for i in order]
    rows = await conn.fetch(
        _INTAKE_MANY,
        [uuid.UUID(n.id) for n, _ in run],
        [n.org_id for n, _ in run],
        [n.channel for n, _ in run],
        [n.queue for n, _ in run],
        [n.priority for n, _ in run],
        [vip for _, vip in run],
        [jsonwire.dumps(n.skills) if n.skills is not None else None for n, _ in run],
        [n.subject for n, _ in run],
        [n.identity_type for n, _ in run],
        [n.identity_value for n, _ in run],
        [n.customer_name for n, _ in run],
        [n.idempotency_key for n, _ in run],
        [n.created_by for n, _ in run],
        [n.created_at for n, _ in run],
        [n.first_message for n, _ in run],
    )
    by_caller = dict(zip(order, (_inserted(new, r) for (new, _), r in zip(run, rows, strict=True)), strict=True))
    return [by_caller[i] for i in range(len(items))]


def _lock_order(n: NewInteraction) -> tuple[str, str, str]:
    return n.org_id, n.identity_type, n.identity_value


def _inserted(new: NewInteraction, r: asyncpg.Record) -> Inserted:
    customer = CustomerRouting(
        str(r["customer_id"]),
        r["customer_name"],
        r["vip"],
        str(r["last_agent_id"]) if r["last_agent_id"] else None,
        r["last_agent_at"],
    )
    if not r["created"]:
        return None, customer
    row = dict.fromkeys(c.strip() for c in COLUMNS.split(","))
    row.update(
        id=uuid.UUID(new.id),
        org_id=new.org_id,
        channel=new.channel,
        queue=new.queue,
        original_queue=new.queue,
        state="queued",
        priority=r["priority"],
        skills=new.skills,
        subject=new.subject,
        customer_id=r["customer_id"],
        created_at=new.created_at,
        enqueued_at=new.created_at,
        idempotency_key=new.idempotency_key,
    )
    return row, customer


async def get(pool: asyncpg.Pool | asyncpg.Connection, org_id: str, interaction_id: str) -> asyncpg.Record | None:
    try:
        iid = uuid.UUID(interaction_id)
    except ValueError:
        return None
    return await pool.fetchrow(f"SELECT {COLUMNS} FROM interactions WHERE org_id=$1 AND id=$2", org_id, iid)


async def list_page(
    pool: asyncpg.Pool,
    org_id: str,
    *,
    state: str | None,
    queue: str | None,
    agent_id: str | None,
    limit: int,
    cursor: tuple[datetime, uuid.UUID] | None,
) -> list[asyncpg.Record]:
    """Newest first, keyset-paginated on (created_at, id)."""
    where = ["org_id=$1"]
    args: list[Any] = [org_id]
    if state:
        args.append(state)
        where.append(f"state=${len(args)}")
    if queue:
        args.append(queue)
        where.append(f"queue=${len(args)}")
    if agent_id:
        args.append(uuid.UUID(agent_id))
        where.append(f"agent_id=${len(args)}")
    if cursor:
        args.extend(cursor)
        where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    return await pool.fetch(
        f"SELECT {COLUMNS} FROM interactions WHERE {' AND '.join(where)}"
        f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
        *args,
    )


async def add_message(
    conn: asyncpg.Pool | asyncpg.Connection,
    org_id: str,
    interaction_id: str,
    sender: str,
    agent_id: str | None,
    text: str,
    at: datetime,
) -> int:
    return await conn.fetchval(
        "INSERT INTO messages (org_id, interaction_id, sender, agent_id, text, at) VALUES ($1,$2,$3,$4,$5,$6)"
        " RETURNING id",
        org_id,
        uuid.UUID(interaction_id),
        sender,
        uuid.UUID(agent_id) if agent_id else None,
        text,
        at,
    )


async def transcript(pool: asyncpg.Pool, org_id: str, interaction_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, sender, agent_id, text, status, at FROM messages WHERE org_id=$1 AND interaction_id=$2"
        " ORDER BY at, id",  # by time: messages spooled through a PostgreSQL outage get later ids
        org_id,
        uuid.UUID(interaction_id),
    )
    return [
        {
            "id": r["id"],
            "from": r["sender"],
            "agent_id": str(r["agent_id"]) if r["agent_id"] else None,
            "text": r["text"],
            "status": r["status"],
            "at": r["at"].isoformat(),
        }
        for r in rows
    ]


async def decisions(pool: asyncpg.Pool, org_id: str, interaction_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT at, trigger, outcome, winner, rule, candidates FROM routing_decisions"
        " WHERE org_id=$1 AND interaction_id=$2 ORDER BY id",
        org_id,
        uuid.UUID(interaction_id),
    )
    return [
        {
            "at": r["at"].isoformat(),
            "trigger": r["trigger"],
            "outcome": r["outcome"],
            "winner": str(r["winner"]) if r["winner"] else None,
            "rule": r["rule"],
            "candidates": r["candidates"],
        }
        for r in rows
    ]


def _considered(pairs: Any) -> list[dict[str, str]]:
    """Candidates a script looked at before its pick, each with why it was passed over."""
    return [{"agent_id": p[0], "excluded": p[1]} for p in (pairs or [])]


def _ts(ms: float) -> datetime:
    return to_datetime(ms / 1000)


# One statement for every kind of change, so a batch of reports is one ``executemany`` in version
# order; a column a change does not set is passed as NULL and kept.
_APPLY_CHANGE = (
    "UPDATE interactions SET state=$3,"
    " agent_id=CASE WHEN $4 THEN $5 ELSE agent_id END,"
    " queue=COALESCE($6, queue),"
    " offered_at=COALESCE($7, offered_at), connected_at=COALESCE($8, connected_at),"
    " ended_at=COALESCE($9, ended_at), completed_at=COALESCE($10, completed_at),"
    " end_reason=COALESCE($11, end_reason), wrap_up_code=COALESCE($12, wrap_up_code),"
    " wrap_up_notes=COALESCE($13, wrap_up_notes), live_version=$2, updated_at=now()"
    " WHERE id=$1 AND live_version < $2"
)
_STATE_OF = {
    "offers": "offered",
    "connected": "connected",
    "ended": "wrap_up",
    "completed": "completed",
    "requeued": "queued",
    "abandoned": "abandoned",
}


def _change_row(kind: str, e: dict[str, Any], v: int, at: datetime) -> tuple[Any, ...]:
    """Parameters of _APPLY_CHANGE for one reported change."""
    agent = uuid.UUID(e["agent"]) if e.get("agent") and kind in ("offers", "connected") else None
    return (
        uuid.UUID(e["iid"]),
        v,
        _STATE_OF[kind],
        kind in ("offers", "connected", "requeued"),  # requeued clears the agent
        agent,
        e["queue"] if kind == "requeued" else None,
        at if kind == "offers" else None,
        at if kind == "connected" else None,
        at if kind in ("ended", "abandoned") else None,
        at if kind == "completed" else None,
        e.get("reason") if kind in ("ended", "abandoned") else None,
        (e.get("code") or None) if kind == "completed" else None,
        (e.get("notes") or None) if kind == "completed" else None,
    )


def _event_row(org_id: str, kind: str, e: dict[str, Any], at: datetime) -> tuple[Any, ...]:
    iid = uuid.UUID(e["iid"])
    agent = uuid.UUID(e["agent"]) if e.get("agent") else None
    if kind == "offers":
        return (org_id, at, "offered", iid, agent, e["queue"], {"rule": e["rule"]})
    if kind == "connected":
        return (org_id, at, "connected", iid, agent, e["queue"], {})
    if kind == "ended":
        return (org_id, at, "ended", iid, agent, None, {"reason": e["reason"]})
    if kind == "completed":
        return (org_id, at, "completed", iid, agent, None, {"code": e.get("code") or None, "auto": bool(e.get("auto"))})
    if kind == "requeued":
        return (org_id, at, "requeued", iid, None, e["queue"], {"overflow": bool(e.get("overflow"))})
    return (org_id, at, "abandoned", iid, None, e["queue"], {"reason": e["reason"]})


RecordedReport = tuple[str, dict[str, Any], int]  # (org_id, report, now_ms)
_INSERT_EVENT = (
    "INSERT INTO events (org_id, at, kind, interaction_id, agent_id, queue, data) VALUES ($1,$2,$3,$4,$5,$6,$7)"
)


async def record_events(conn: asyncpg.Connection, reports: list[RecordedReport]) -> None:
    """The event rows of reported changes whose rows the caller writes itself (the reconciler's
    recovered ends): interval statistics are computed from events."""
    rows = [
        _event_row(org_id, kind, e, _ts(now_ms))
        for org_id, report, now_ms in reports
        for kind in _STATE_OF
        for e in report.get(kind) or []
    ]
    if rows:
        await conn.executemany(_INSERT_EVENT, rows)


async def apply_reports(conn: asyncpg.Connection, reports: list[RecordedReport]) -> None:
    """Write routing scripts' reports: state changes in version order, then decisions and events.

    Many reports go in one transaction with one ``executemany`` per table; each change carries its
    interaction's live version, so a change older than the row's is skipped whatever the batch order.
    """
    changes: list[tuple[int, tuple[Any, ...]]] = []
    connected: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    decisions: list[tuple[Any, ...]] = []
    for org_id, report, now_ms in reports:
        at = _ts(now_ms)
        mine = sorted(((int(e["v"]), kind, e) for kind in _STATE_OF for e in report.get(kind) or []),
                      key=lambda c: c[0])
        for v, kind, e in mine:
            changes.append((v, _change_row(kind, e, v, at)))
            events.append(_event_row(org_id, kind, e, at))
            if kind == "connected":
                # remembered for last-agent routing of the customer's next contact
                connected.append((uuid.UUID(e["iid"]), uuid.UUID(e["agent"]), at))
        for r in report.get("revoked") or []:
            events.append(
                (org_id, at, "offer_revoked", uuid.UUID(r["iid"]), uuid.UUID(r["agent"]), None, {"reason": r["reason"]})
            )
        for o in report.get("offers") or []:
            decisions.append(
                (org_id, uuid.UUID(o["iid"]), at, o["trigger"], "offered", uuid.UUID(o["agent"]), o["rule"],
                 _considered(o.get("candidates")))
            )
        for d in report.get("decisions") or []:
            decisions.append(
                (org_id, uuid.UUID(d["iid"]), at, d["trigger"], d["outcome"], None, None,
                 _considered(d.get("candidates")))
            )
    if changes:
        changes.sort(key=lambda c: c[0])
        await conn.executemany(_APPLY_CHANGE, [row for _, row in changes])
    if connected:
        await conn.executemany(
            "UPDATE customers c SET last_agent_id=$2, last_agent_at=$3 FROM interactions i"
            " WHERE i.id=$1 AND c.id=i.customer_id AND (c.last_agent_at IS NULL OR c.last_agent_at <= $3)",
            connected,
        )
    if events:
        await conn.executemany(_INSERT_EVENT, events)
    if decisions:
        await conn.executemany(
            "INSERT INTO routing_decisions (org_id, interaction_id, at, trigger, outcome, winner, rule, candidates)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            decisions,
        )

