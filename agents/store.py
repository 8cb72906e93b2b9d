"""Users and agent profiles in PostgreSQL, and a per-process cache of the profiles logins need."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from agents.model import AgentProfile

USER_FIELDS = "id, org_id, email, role, display_name, skills, capacity, team, active, created_at"


def user_public(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "role": row["role"],
        "display_name": row["display_name"],
        "skills": row["skills"],
        "capacity": row["capacity"],
        "team": row["team"],
        "active": row["active"],
        "created_at": row["created_at"].isoformat(),
    }


async def user_by_email(pool: asyncpg.Pool, email: str) -> asyncpg.Record | None:
    return await pool.fetchrow(f"SELECT {USER_FIELDS}, password_hash FROM users WHERE lower(email)=lower($1)", email)


async def user_by_id(pool: asyncpg.Pool | asyncpg.Connection, org_id: str, user_id: str) -> asyncpg.Record | None:
    try:
        uid = uuid.UUID(user_id)
    except ValueError:
        return None
    return await pool.fetchrow(f"SELECT {USER_FIELDS} FROM users WHERE org_id=$1 AND id=$2", org_id, uid)


async def list_users(pool: asyncpg.Pool, org_id: str, role: str | None = None) -> list[asyncpg.Record]:
    if role:
        return await pool.fetch(
            f"SELECT {USER_FIELDS} FROM users WHERE org_id=$1 AND role=$2 ORDER BY email", org_id, role
        )
    return await pool.fetch(f"SELECT {USER_FIELDS} FROM users WHERE org_id=$1 ORDER BY email", org_id)


async def create_user(
    conn: asyncpg.Pool | asyncpg.Connection,
    org_id: str,
    *,
    email: str,
    password_hash: str,
    role: str,
    display_name: str,
    skills: dict[str, int] | None = None,
    capacity: dict[str, int] | None = None,
    team: str | None = None,
    user_id: str | None = None,
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO users (id, org_id, email, password_hash, role, display_name, skills, capacity, team)"
        f" VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING {USER_FIELDS}",
        uuid.UUID(user_id) if user_id else uuid.uuid4(),
        org_id,
        email,
        password_hash,
        role,
        display_name,
        skills or {},
        capacity or {},
        team,
    )


async def agent_profile(pool: asyncpg.Pool | asyncpg.Connection, org_id: str, agent_id: str) -> AgentProfile | None:
    row = await user_by_id(pool, org_id, agent_id)
    if row is None or row["role"] != "agent" or not row["active"]:
        return None
    return _profile(org_id, row)


def _profile(org_id: str, row: asyncpg.Record) -> AgentProfile:
    return AgentProfile(
        id=str(row["id"]),
        org_id=org_id,
        display_name=row["display_name"],
        skills=row["skills"],
        capacity=row["capacity"],
        team=row["team"],
    )


_ORG_AGENTS = "SELECT id, display_name, skills, capacity, team FROM users WHERE org_id=$1 AND role='agent' AND active"


@dataclass
class _OrgProfiles:
    version: str
    expires: float
    rows: dict[str, asyncpg.Record]
    built: dict[str, AgentProfile] = field(default_factory=dict)


class ProfileCache:
    """Agent profiles per process, loaded for a whole org in one query: after a node restarts all its
    agents log in at once, and one read for all of them beats one each.

    An org's entry is dropped when the org's config version (``cfgver``) moves or after ``ttl_s``, so
    an admin's edit reaches the next login at the latest ``ttl_s`` later, at once if the edit bumps the
    version. An agent missing from the entry (created since, or inactive) is read from PostgreSQL.
    """

    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 5.0) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._by_org: dict[str, _OrgProfiles] = {}
        self._loading: dict[str, asyncio.Task[_OrgProfiles]] = {}

    async def get(self, org_id: str, agent_id: str, version: str) -> AgentProfile | None:
        entry = self._by_org.get(org_id)
        if entry is None or entry.version != version or entry.expires <= time.monotonic():
            entry = await self._load(org_id, version)
        built = entry.built.get(agent_id)
        if built is not None:
            return built
        row = entry.rows.get(agent_id)
        if row is not None:
            built = entry.built[agent_id] = _profile(org_id, row)
            return built
        read = await agent_profile(self._pool, org_id, agent_id)
        if read is not None:
            entry.built[agent_id] = read
        return read

    async def _load(self, org_id: str, version: str) -> _OrgProfiles:
        """One query per org however many logins wait for it at the same moment.

        The query runs as its own task: a login whose socket goes away mid-wait must not cancel it for
        the others.
        """
        task = self._loading.get(org_id)
        if task is None:
            task = self._loading[org_id] = asyncio.ensure_future(self._fetch(org_id, version))
            task.add_done_callback(lambda _: self._loading.pop(org_id, None))
        return await asyncio.shield(task)

    async def _fetch(self, org_id: str, version: str) -> _OrgProfiles:
        rows = await self._pool.fetch(_ORG_AGENTS, org_id)
        entry = _OrgProfiles(version, time.monotonic() + self._ttl_s, {str(r["id"]): r for r in rows})
        self._by_org[org_id] = entry
        return entry
