"""Customer profiles in PostgreSQL: an identity seen again attaches to the same profile."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class CustomerRouting:
    """What routing reads from a profile: VIP flag and the last agent who served them."""

    id: str
    name: str | None
    vip: bool
    last_agent_id: str | None
    last_agent_at: datetime | None


async def remember_agent(conn: asyncpg.Connection, customer_id: str, agent_id: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE customers SET last_agent_id=$2, last_agent_at=$3 WHERE id=$1",
        uuid.UUID(customer_id),
        uuid.UUID(agent_id),
        at,
    )


async def profile(pool: asyncpg.Pool, org_id: str, customer_id: str) -> dict[str, Any] | None:
    """Profile with identities and recent interactions, as the agent desktop shows it."""
    row = await pool.fetchrow(
        "SELECT id, name, attributes, last_agent_id, created_at FROM customers WHERE org_id=$1 AND id=$2",
        org_id,
        uuid.UUID(customer_id),
    )
    if row is None:
        return None
    ids = await pool.fetch(
        "SELECT type, value FROM customer_identities WHERE org_id=$1 AND customer_id=$2 ORDER BY type, value",
        org_id,
        row["id"],
    )
    history = await pool.fetch(
        "SELECT id, channel, queue, state, created_at, wrap_up_code FROM interactions"
        " WHERE org_id=$1 AND customer_id=$2 ORDER BY created_at DESC LIMIT 20",
        org_id,
        row["id"],
    )
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "attributes": row["attributes"],
        "identities": [{"type": r["type"], "value": r["value"]} for r in ids],
        "interactions": [
            {
                "id": str(h["id"]),
                "channel": h["channel"],
                "queue": h["queue"],
                "state": h["state"],
                "created_at": h["created_at"].isoformat(),
                "wrap_up_code": h["wrap_up_code"],
            }
            for h in history
        ],
    }
