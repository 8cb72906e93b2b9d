"""Users and agent profiles in PostgreSQL."""

from __future__ import annotations

import uuid
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
    return AgentProfile(
        id=str(row["id"]),
        org_id=org_id,
        display_name=row["display_name"],
        skills=row["skills"],
        capacity=row["capacity"],
        team=row["team"],
    )
