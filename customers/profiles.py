"""Customer profiles for people and integrations: CRUD, merge, export, erasure and retention.

``customers.store`` is what routing needs on the hot path (resolve an identity, remember the last
agent); this module is everything an admin, a supervisor or a data-protection request does to a profile.
Identities are kept in one canonical form (E.164 phones, lower-case emails) so the same person
sent by a webhook and typed by an admin is one identity.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import asyncpg
import phonenumbers

from customers import store
from switchboard.clock import to_datetime

IDENTITY_TYPES = ("phone", "email", "whatsapp", "messenger", "webchat")
ERASED = "[erased]"
CLOSED_STATES = ("completed", "abandoned", "failed")
# Providers retry a webhook for hours at most; after this the dedupe rows only cost space.
RECEIPT_KEEP_DAYS = 30
PURGE_BATCH = 5000
Db: TypeAlias = asyncpg.Connection | asyncpg.Pool


class ProfileError(Exception):
    """A request the profile rules refuse; ``status`` and ``code`` become the API error."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def normalise_identity(kind: str, value: str) -> str:
    """The canonical spelling of an identity; raises ProfileError for one that cannot be right."""
    if kind not in IDENTITY_TYPES:
        raise ProfileError(422, "validation_error", f"unknown identity type {kind!r}")
    text = value.strip()
    if not text:
        raise ProfileError(422, "validation_error", "identity value is empty")
    if kind in ("phone", "whatsapp"):
        try:
            number = phonenumbers.parse(text if not text.startswith("00") else "+" + text[2:], None)
        except phonenumbers.NumberParseException as e:
            raise ProfileError(422, "invalid_phone_number", f"not an international number: {value!r}") from e
        if not phonenumbers.is_valid_number(number):
            raise ProfileError(422, "invalid_phone_number", f"not a valid phone number: {value!r}")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if kind == "email":
        if "@" not in text:
            raise ProfileError(422, "validation_error", f"not an email address: {value!r}")
        return text.lower()
    return text


def _uuid(customer_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(customer_id)
    except ValueError as e:
        raise ProfileError(404, "not_found", "no such customer") from e


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


async def _add_identities(
    conn: asyncpg.Connection, org_id: str, cid: uuid.UUID, identities: list[tuple[str, str]]
) -> None:
    for kind, value in identities:
        owner = await conn.fetchval(
            "INSERT INTO customer_identities (org_id, type, value, customer_id) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (org_id, type, value) DO NOTHING RETURNING customer_id",
            org_id,
            kind,
            value,
            cid,
        )
        if owner is None:
            holder = await conn.fetchval(
                "SELECT customer_id FROM customer_identities WHERE org_id=$1 AND type=$2 AND value=$3",
                org_id,
                kind,
                value,
            )
            if holder != cid:
                raise ProfileError(
                    409,
                    "identity_taken",
                    f"{kind} {value} belongs to another customer",
                    {"type": kind, "value": value, "customer_id": str(holder)},
                )


def canonical_identities(raw: list[dict[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in raw:
        pair = (item["type"], normalise_identity(item["type"], item["value"]))
        if pair not in out:
            out.append(pair)
    return out


async def create(
    pool: asyncpg.Pool, org_id: str, name: str | None, attributes: dict[str, Any], identities: list[dict[str, str]]
) -> str:
    """A new profile; 409 ``identity_taken`` when another profile already owns an identity."""
    pairs = canonical_identities(identities)
    cid = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO customers (id, org_id, name, attributes) VALUES ($1,$2,$3,$4)", cid, org_id, name, attributes
        )
        await _add_identities(conn, org_id, cid, pairs)
    return str(cid)


async def get(pool: asyncpg.Pool, org_id: str, customer_id: str) -> dict[str, Any] | None:
    """The profile (identities, recent history), also when merged away or erased, which it says."""
    cid = _uuid(customer_id)
    row = await pool.fetchrow(
        "SELECT merged_into, erased_at, last_agent_id, last_agent_at FROM customers WHERE org_id=$1 AND id=$2",
        org_id,
        cid,
    )
    data = await store.profile(pool, org_id, str(cid)) if row is not None else None
    if row is None or data is None:
        return None
    data["attributes"] = data["attributes"] or {}
    data["vip"] = bool(data["attributes"].get("vip"))
    data["last_agent_id"] = str(row["last_agent_id"]) if row["last_agent_id"] else None
    data["last_agent_at"] = _iso(row["last_agent_at"])
    data["merged_into"] = str(row["merged_into"]) if row["merged_into"] else None
    data["erased"] = row["erased_at"] is not None
    return data


async def search(pool: asyncpg.Pool, org_id: str, query: str | None, limit: int) -> list[dict[str, Any]]:
    """Live profiles whose name or any identity contains ``query`` (case-insensitive), newest first."""
    args: list[Any] = [org_id, limit]
    where = "c.org_id=$1 AND c.merged_into IS NULL"
    if query:
        args.append(f"%{query.strip().lower()}%")
        where += (
            " AND (lower(coalesce(c.name,'')) LIKE $3 OR EXISTS (SELECT 1 FROM customer_identities ci"
            " WHERE ci.customer_id=c.id AND lower(ci.value) LIKE $3))"
        )
    rows = await pool.fetch(
        f"SELECT c.id, c.name, c.attributes, c.created_at, coalesce((SELECT json_agg(json_build_object("
        f"'type', ci.type, 'value', ci.value) ORDER BY ci.type, ci.value) FROM customer_identities ci"
        f" WHERE ci.customer_id=c.id), '[]') AS identities FROM customers c WHERE {where}"
        f" ORDER BY c.created_at DESC, c.id LIMIT $2",
        *args,
    )
    return [
        {
            "id": str(r["id"]),
            "name": r["name"],
            "attributes": r["attributes"] or {},
            "identities": r["identities"],
            "created_at": _iso(r["created_at"]),
        }
        for r in rows
    ]


async def update(
    pool: asyncpg.Pool,
    org_id: str,
    customer_id: str,
    *,
    name: str | None = None,
    set_name: bool = False,
    attributes: dict[str, Any] | None = None,
    identities: list[dict[str, str]] | None = None,
) -> bool:
    """Patch a profile: attributes merge key by key (``null`` removes one); identities replace the set."""
    cid = _uuid(customer_id)
    pairs = canonical_identities(identities) if identities is not None else None
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT attributes, merged_into FROM customers WHERE org_id=$1 AND id=$2 FOR UPDATE", org_id, cid
        )
        if row is None:
            return False
        if row["merged_into"] is not None:
            raise ProfileError(
                409, "customer_merged", "this profile was merged into another", {"merged_into": str(row["merged_into"])}
            )
        attrs = dict(row["attributes"] or {})
        for k, v in (attributes or {}).items():
            if v is None:
                attrs.pop(k, None)
            else:
                attrs[k] = v
        await conn.execute(
            "UPDATE customers SET name = CASE WHEN $3 THEN $4 ELSE name END, attributes=$5, updated_at=now()"
            " WHERE id=$1 AND org_id=$2",
            cid,
            org_id,
            set_name,
            name,
            attrs,
        )
        if pairs is not None:
            await conn.execute("DELETE FROM customer_identities WHERE org_id=$1 AND customer_id=$2", org_id, cid)
            await _add_identities(conn, org_id, cid, pairs)
    return True


async def delete(pool: asyncpg.Pool, org_id: str, customer_id: str) -> bool:
    """Remove a profile and its identities; its interactions stay, no longer linked to anyone."""
    cid = _uuid(customer_id)
    async with pool.acquire() as conn, conn.transaction():
        found = await conn.fetchval("SELECT id FROM customers WHERE org_id=$1 AND id=$2 FOR UPDATE", org_id, cid)
        if found is None:
            return False
        await conn.execute("DELETE FROM customer_identities WHERE org_id=$1 AND customer_id=$2", org_id, cid)
        await conn.execute("UPDATE interactions SET customer_id=NULL WHERE org_id=$1 AND customer_id=$2", org_id, cid)
        await conn.execute("UPDATE customers SET merged_into=NULL WHERE org_id=$1 AND merged_into=$2", org_id, cid)
        await conn.execute("DELETE FROM customers WHERE org_id=$1 AND id=$2", org_id, cid)
    return True


async def merge(pool: asyncpg.Pool, org_id: str, into_id: str, from_id: str) -> None:
    """Fold ``from`` into ``into``: identities and interactions move, ``into`` wins attribute clashes."""
    into, src = _uuid(into_id), _uuid(from_id)
    if into == src:
        raise ProfileError(409, "same_customer", "a profile cannot be merged into itself")
    async with pool.acquire() as conn, conn.transaction():
        rows = {
            r["id"]: r
            for r in await conn.fetch(
                "SELECT id, name, attributes, last_agent_id, last_agent_at, merged_into, erased_at FROM customers"
                " WHERE org_id=$1 AND id = ANY($2::uuid[]) ORDER BY id FOR UPDATE",
                org_id,
                [into, src],
            )
        }
        if into not in rows or src not in rows:
            raise ProfileError(404, "not_found", "no such customer")
        for cid in (into, src):
            if rows[cid]["merged_into"] is not None:
                raise ProfileError(
                    409,
                    "customer_merged",
                    f"profile {cid} was already merged",
                    {"merged_into": str(rows[cid]["merged_into"])},
                )
        a, b = rows[into], rows[src]
        attrs = {**(b["attributes"] or {}), **(a["attributes"] or {})}
        last_id, last_at = a["last_agent_id"], a["last_agent_at"]
        if b["last_agent_at"] is not None and (last_at is None or b["last_agent_at"] > last_at):
            last_id, last_at = b["last_agent_id"], b["last_agent_at"]
        await conn.execute(
            "UPDATE customers SET name=coalesce(name, $3), attributes=$4, last_agent_id=$5, last_agent_at=$6,"
            " updated_at=now() WHERE org_id=$1 AND id=$2",
            org_id,
            into,
            b["name"],
            attrs,
            last_id,
            last_at,
        )
        await conn.execute(
            "UPDATE customer_identities SET customer_id=$3 WHERE org_id=$1 AND customer_id=$2", org_id, src, into
        )
        await conn.execute(
            "UPDATE interactions SET customer_id=$3 WHERE org_id=$1 AND customer_id=$2", org_id, src, into
        )
        # Profiles merged into ``from`` earlier now point at the survivor, so a chain never forms.
        await conn.execute("UPDATE customers SET merged_into=$3 WHERE org_id=$1 AND merged_into=$2", org_id, src, into)
        await conn.execute(
            "UPDATE customers SET merged_into=$3, updated_at=now() WHERE org_id=$1 AND id=$2", org_id, src, into
        )
        await conn.execute(
            "INSERT INTO audit_log (org_id, action, data) VALUES ($1, 'customer.merged', $2)",
            org_id,
            {"into": str(into), "from": str(src)},
        )


async def agent_has_served(pool: asyncpg.Pool, org_id: str, customer_id: str, agent_id: str) -> bool:
    """True when the agent holds or held (was offered) one of the customer's interactions."""
    try:
        cid, aid = uuid.UUID(customer_id), uuid.UUID(agent_id)
    except ValueError:
        return False
    return bool(
        await pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM interactions WHERE org_id=$1 AND customer_id=$2 AND agent_id=$3)"
            " OR EXISTS (SELECT 1 FROM events e JOIN interactions i ON i.id = e.interaction_id"
            " WHERE e.org_id=$1 AND e.agent_id=$3 AND e.kind IN ('offered','connected') AND i.customer_id=$2)",
            org_id,
            cid,
            aid,
        )
    )


async def export(pool: asyncpg.Pool, org_id: str, customer_id: str) -> dict[str, Any] | None:
    """Everything held about one person (subject access request): profile, interactions, transcripts."""
    profile = await get(pool, org_id, customer_id)
    if profile is None:
        return None
    cid = uuid.UUID(profile["id"])
    interactions = await pool.fetch(
        "SELECT id, channel, queue, state, subject, agent_id, created_at, ended_at, completed_at, wrap_up_code,"
        " wrap_up_notes, end_reason FROM interactions WHERE org_id=$1 AND customer_id=$2 ORDER BY created_at",
        org_id,
        cid,
    )
    messages = await pool.fetch(
        "SELECT m.interaction_id, m.sender, m.text, m.status, m.at FROM messages m"
        " JOIN interactions i ON i.id = m.interaction_id WHERE i.org_id=$1 AND i.customer_id=$2 ORDER BY m.at, m.id",
        org_id,
        cid,
    )
    by_interaction: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for m in messages:
        by_interaction.setdefault(m["interaction_id"], []).append(
            {"from": m["sender"], "text": m["text"], "status": m["status"], "at": _iso(m["at"])}
        )
    profile.pop("interactions", None)
    return {
        "customer": profile,
        "interactions": [
            {
                "id": str(r["id"]),
                "channel": r["channel"],
                "queue": r["queue"],
                "state": r["state"],
                "subject": r["subject"],
                "agent_id": str(r["agent_id"]) if r["agent_id"] else None,
                "created_at": _iso(r["created_at"]),
                "ended_at": _iso(r["ended_at"]),
                "completed_at": _iso(r["completed_at"]),
                "wrap_up_code": r["wrap_up_code"],
                "wrap_up_notes": r["wrap_up_notes"],
                "end_reason": r["end_reason"],
                "transcript": by_interaction.get(r["id"], []),
            }
            for r in interactions
        ],
    }


async def erase(
    pool: asyncpg.Pool, org_id: str, customer_id: str, actor: str | None, now: float
) -> dict[str, int] | None:
    """Right to be forgotten: scrub transcripts, notes, identities and name; keep anonymous rows.

    Interaction rows (channel, queue, times, states, wrap-up codes) stay for statistics, linked to the
    now anonymous profile; replies still waiting in the outbox are cancelled and their payloads wiped.
    """
    cid = _uuid(customer_id)
    at = to_datetime(now)
    async with pool.acquire() as conn, conn.transaction():
        found = await conn.fetchval("SELECT id FROM customers WHERE org_id=$1 AND id=$2 FOR UPDATE", org_id, cid)
        if found is None:
            return None
        ids = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM interactions WHERE org_id=$1 AND customer_id=$2", org_id, cid)
        ]
        scrubbed = await conn.fetchval(
            "WITH s AS (UPDATE messages SET text=$3 WHERE org_id=$1 AND interaction_id = ANY($2::uuid[])"
            " AND text <> $3 RETURNING 1) SELECT count(*) FROM s",
            org_id,
            ids,
            ERASED,
        )
        await conn.execute(
            "UPDATE interactions SET subject=NULL, wrap_up_notes=NULL WHERE org_id=$1 AND id = ANY($2::uuid[])",
            org_id,
            ids,
        )
        await conn.execute(
            "UPDATE outbox SET payload='{\"erased\": true}'::jsonb,"
            " status = CASE WHEN status='pending' THEN 'failed' ELSE status END,"
            " last_error = CASE WHEN status='pending' THEN 'erased' ELSE last_error END"
            " WHERE org_id=$1 AND kind='reply' AND message_id IN"
            " (SELECT id FROM messages WHERE org_id=$1 AND interaction_id = ANY($2::uuid[]))",
            org_id,
            ids,
        )
        identities = await conn.fetchval(
            "WITH d AS (DELETE FROM customer_identities WHERE org_id=$1 AND customer_id=$2 RETURNING 1)"
            " SELECT count(*) FROM d",
            org_id,
            cid,
        )
        await conn.execute(
            "UPDATE customers SET name=NULL, attributes='{}'::jsonb, last_agent_id=NULL, last_agent_at=NULL,"
            " erased_at=$3, updated_at=now() WHERE org_id=$1 AND (id=$2 OR merged_into=$2)",
            org_id,
            cid,
            at,
        )
        await conn.execute(
            "INSERT INTO audit_log (org_id, at, actor, action, data) VALUES ($1, $2, $3, 'customer.erased', $4)",
            org_id,
            at,
            actor,
            {"customer_id": str(cid), "messages": scrubbed, "interactions": len(ids)},
        )
    return {"messages_scrubbed": int(scrubbed), "identities_removed": int(identities), "interactions_kept": len(ids)}


async def get_retention(db: Db, org_id: str) -> int | None:
    days: int | None = await db.fetchval("SELECT retention_days FROM orgs WHERE id=$1", org_id)
    return days


async def set_retention(db: Db, org_id: str, days: int | None) -> None:
    await db.execute("UPDATE orgs SET retention_days=$2 WHERE id=$1", org_id, days)


async def purge_expired(pool: asyncpg.Pool, now: float, org_id: str | None = None) -> int:
    """Scrub transcripts of closed interactions older than each org's retention; returns messages scrubbed.

    Works in batches so a first run over years of history never holds one huge transaction.
    """
    at = to_datetime(now)
    total = 0
    while True:
        n = await pool.fetchval(
            "WITH victims AS (SELECT m.id FROM messages m JOIN orgs o ON o.id = m.org_id"
            " JOIN interactions i ON i.id = m.interaction_id"
            " WHERE o.retention_days IS NOT NULL AND ($4::text IS NULL OR o.id = $4)"
            " AND m.at < $1::timestamptz - make_interval(days => o.retention_days)"
            " AND i.state = ANY($3::text[]) AND m.text <> $2 LIMIT $5),"
            " s AS (UPDATE messages SET text=$2 FROM victims WHERE messages.id = victims.id RETURNING 1)"
            " SELECT count(*) FROM s",
            at,
            ERASED,
            list(CLOSED_STATES),
            org_id,
            PURGE_BATCH,
        )
        total += int(n)
        if n < PURGE_BATCH:
            break
    await pool.execute(
        "UPDATE interactions i SET subject=NULL, wrap_up_notes=NULL FROM orgs o WHERE o.id = i.org_id"
        " AND o.retention_days IS NOT NULL AND ($2::text IS NULL OR o.id = $2) AND i.state = ANY($3::text[])"
        " AND coalesce(i.completed_at, i.ended_at, i.created_at)"
        " < $1::timestamptz - make_interval(days => o.retention_days)"
        " AND (i.subject IS NOT NULL OR i.wrap_up_notes IS NOT NULL)",
        at,
        org_id,
        list(CLOSED_STATES),
    )
    await pool.execute(
        "DELETE FROM inbound_receipts WHERE received_at < $1 AND ($2::text IS NULL OR org_id = $2)",
        at - timedelta(days=RECEIPT_KEEP_DAYS),
        org_id,
    )
    return total
