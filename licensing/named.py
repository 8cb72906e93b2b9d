"""Named seats in PostgreSQL: the distinct agents who logged in during a measurement period.

The count-then-insert runs under a transaction-scoped advisory lock per (org, license, period), so
any number of processes racing on the last seat admit exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg


@dataclass(frozen=True)
class NamedClaim:
    ok: bool
    count: int
    already_counted: bool


_COUNT = "SELECT count(*) FROM license_named_agents WHERE org_id = $1 AND license_id = $2 AND period_key = $3"
# Whether the agent is counted, and the count, in one round trip.
_COUNTED_AND_COUNT = """
SELECT EXISTS (SELECT 1 FROM license_named_agents
                WHERE org_id = $1 AND license_id = $2 AND period_key = $3 AND agent_id = $4) AS counted,
       (SELECT count(*) FROM license_named_agents
         WHERE org_id = $1 AND license_id = $2 AND period_key = $3) AS count
"""
_INSERT = """
INSERT INTO license_named_agents (org_id, license_id, period_key, agent_id, first_login_at)
VALUES ($1, $2, $3, $4, $5)
"""


def _lock_name(org_id: str, license_id: str, period_key: str) -> str:
    return f"license_named:{org_id}:{license_id}:{period_key}"


async def claim_named(
    pool: asyncpg.Pool,
    org_id: str,
    license_id: str,
    period_key: str,
    agent_id: str,
    seats: int,
    now: float,
) -> NamedClaim:
    """Count ``agent_id`` in the period unless ``seats`` distinct agents already are."""
    scope = (org_id, license_id, period_key)
    async with pool.acquire() as conn:
        # The common case, an agent logging in again, needs no lock.
        row = await conn.fetchrow(_COUNTED_AND_COUNT, *scope, agent_id)
        if row["counted"]:
            return NamedClaim(True, int(row["count"]), True)
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _lock_name(*scope))
            # Read again under the lock (a new statement, so it sees the previous holder's insert):
            # a racing login of the same agent may have counted it.
            row = await conn.fetchrow(_COUNTED_AND_COUNT, *scope, agent_id)
            count = int(row["count"])
            if row["counted"]:
                return NamedClaim(True, count, True)
            if count >= seats:
                return NamedClaim(False, count, False)
            await conn.execute(_INSERT, *scope, agent_id, datetime.fromtimestamp(now, UTC))
            return NamedClaim(True, count + 1, False)


async def named_count(pool: asyncpg.Pool, org_id: str, license_id: str, period_key: str) -> int:
    return int(await pool.fetchval(_COUNT, org_id, license_id, period_key))
