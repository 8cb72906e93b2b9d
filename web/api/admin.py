"""REST, admin only: users and agents, queues, skills, idle and wrap-up codes, API keys."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from agents.model import CHANNELS
from agents.store import create_user, list_users, user_by_id, user_public
from queues.config import delete_queue, get_queue, list_queues, save_queue
from queues.model import NAME_PATTERN, QueueConfig
from switchboard import keys
from switchboard.redis_conn import REDIS_DOWN
from web.auth import api_key_hash, hash_password, new_api_key, token_time
from web.context import Context, ctx_of
from web.errors import ApiError
from web.revocation import Revocations, revocations_for
from web.routes import ADMIN, STAFF, api, body, principal
from web.security import forget_api_key
from web.sessions import Reason, end_sessions

# Shape only: deliverability is not ours to judge, and reserved names like .test are fine here.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _check_skills(v: dict[str, int] | None) -> dict[str, int] | None:
    for name, p in (v or {}).items():
        if not 1 <= p <= 10:
            raise ValueError(f"proficiency of {name!r} must be 1..10")
    return v


def _check_capacity(v: dict[str, int] | None) -> dict[str, int] | None:
    for ch, n in (v or {}).items():
        if ch not in CHANNELS:
            raise ValueError(f"unknown channel {ch!r}")
        if not 0 <= n <= 50:
            raise ValueError(f"capacity of {ch} must be 0..50")
    return v


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(pattern=EMAIL_PATTERN, max_length=320)
    password: str = Field(min_length=8, max_length=1024)
    role: Literal["agent", "supervisor", "admin"]
    display_name: str = Field(min_length=1, max_length=200)
    skills: dict[str, int] = Field(default_factory=dict)
    capacity: dict[str, int] = Field(default_factory=dict)
    team: str | None = Field(default=None, max_length=100)
    _s = field_validator("skills")(classmethod(lambda cls, v: _check_skills(v)))
    _c = field_validator("capacity")(classmethod(lambda cls, v: _check_capacity(v)))


class UserUpdate(BaseModel):
    """Only the fields sent change; ``team`` may be cleared with null, the others may not be null."""

    model_config = ConfigDict(extra="forbid")
    password: str | SkipJsonSchema[None] = Field(default=None, min_length=8, max_length=1024)
    role: Literal["agent", "supervisor", "admin"] | SkipJsonSchema[None] = None
    display_name: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=200)
    skills: dict[str, int] | SkipJsonSchema[None] = None
    capacity: dict[str, int] | SkipJsonSchema[None] = None
    team: str | None = Field(default=None, max_length=100)
    active: bool | SkipJsonSchema[None] = None
    _s = field_validator("skills")(classmethod(lambda cls, v: _check_skills(v)))
    _c = field_validator("capacity")(classmethod(lambda cls, v: _check_capacity(v)))

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(k for k, v in data.items() if v is None and k != "team")
            if nulls:
                raise ValueError(f"{', '.join(nulls)} may be left out but not null")
        return data


class UserOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    email: str
    role: str


class UserList(BaseModel):
    items: list[UserOut]


class QueueList(BaseModel):
    items: list[QueueConfig]


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=NAME_PATTERN)
    label: str = Field(min_length=1, max_length=200)


class SkillIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(default="", max_length=500)


class ItemList(BaseModel):
    items: list[dict[str, Any]]


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    key: str | None = None
    created_at: str
    revoked_at: str | None = None


# -- users ----------------------------------------------------------------------------------

@api.route("GET", "/api/v1/users", roles=STAFF, response=UserList, tag="admin")
async def users_list(request: web.Request) -> web.Response:
    """Users of the org (supervisors may read, to see their agents)."""
    ctx = ctx_of(request)
    p = principal(request)
    role = request.query.get("role")
    return web.json_response({"items": [user_public(r) for r in await list_users(ctx.pool, p.org_id, role)]})


@api.route("POST", "/api/v1/users", roles=ADMIN, body=UserCreate, response=UserOut, status=201, tag="admin")
async def users_create(request: web.Request) -> web.Response:
    """Create a user; agents carry skills, capacity per channel and a team."""
    ctx = ctx_of(request)
    p = principal(request)
    u: UserCreate = body(request)
    try:
        row = await create_user(ctx.pool, p.org_id, email=u.email, password_hash=hash_password(u.password),
                                role=u.role, display_name=u.display_name, skills=u.skills, capacity=u.capacity,
                                team=u.team)
    except asyncpg.UniqueViolationError as e:
        raise ApiError(409, "conflict", "a user with this email exists") from e
    return web.json_response(user_public(row), status=201)


@api.route("GET", "/api/v1/users/{id}", roles=STAFF, response=UserOut, tag="admin")
async def users_get(request: web.Request) -> web.Response:
    """One user."""
    ctx = ctx_of(request)
    row = await user_by_id(ctx.pool, principal(request).org_id, request.match_info["id"])
    if row is None:
        raise ApiError(404, "not_found", "no such user")
    return web.json_response(user_public(row))


def _ends_sessions(before: asyncpg.Record, sets: dict[str, Any]) -> Reason | None:
    """Deactivating, a new role or a new password ends the user's other sessions."""
    if sets.get("active") is False:
        return "deactivated"
    if "role" in sets and sets["role"] != before["role"]:
        return "role_changed"
    if "password_hash" in sets:
        return "password_changed"
    return None


async def _change_user(ctx: Context, org_id: str, before: asyncpg.Record, sets: dict[str, Any]) -> None:
    """Store the change; one that ends sessions records the user's token cutoff in the same
    transaction, then ends their sockets and (an agent off the floor) their login and seat."""
    if not sets:
        return
    user_id = str(before["id"])
    reason = _ends_sessions(before, sets)
    at = token_time()
    cols = ", ".join(f"{k}=${i + 3}" for i, k in enumerate(sets))
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute(f"UPDATE users SET {cols} WHERE org_id=$1 AND id=$2", org_id, before["id"], *sets.values())
        if reason is not None:
            await Revocations.record_cutoff(conn, user_id, at)
    if reason is None:
        await ctx.redis.incr(keys.config_version(org_id))  # logins' cached profiles of the org go stale
        return
    # first: should Redis fail it, checks go to PostgreSQL until a resync copies it
    await revocations_for(ctx.pool, ctx.redis).publish_cutoff(user_id, at)
    try:
        await ctx.redis.incr(keys.config_version(org_id))
        await end_sessions(ctx, org_id, user_id, before["role"], reason)
    except REDIS_DOWN as e:
        raise ApiError(503, "service_unavailable", "the change is stored and the user's tokens are revoked, but "
                       "ending their live sessions needs Redis: retry the request shortly",
                       headers={"Retry-After": "2"}) from e


@api.route("PATCH", "/api/v1/users/{id}", roles=ADMIN, body=UserUpdate, response=UserOut, tag="admin")
async def users_update(request: web.Request) -> web.Response:
    """Change a user; new skills take effect at the agent's next login or state change. Deactivating,
    a new role or a new password revokes the user's tokens and ends their sessions (the caller's own
    too, when admins change themselves)."""
    ctx = ctx_of(request)
    p = principal(request)
    row = await user_by_id(ctx.pool, p.org_id, request.match_info["id"])
    if row is None:
        raise ApiError(404, "not_found", "no such user")
    u: UserUpdate = body(request)
    sets: dict[str, Any] = u.model_dump(exclude_unset=True, exclude={"password"})
    if u.password:
        sets["password_hash"] = hash_password(u.password)
    await _change_user(ctx, p.org_id, row, sets)
    fresh = await user_by_id(ctx.pool, p.org_id, str(row["id"]))
    assert fresh is not None
    if fresh["role"] == "agent":
        await ctx.extras["refresh_agent"](p.org_id, str(row["id"]))
    return web.json_response(user_public(fresh))


@api.route("DELETE", "/api/v1/users/{id}", roles=ADMIN, response=UserOut, tag="admin")
async def users_delete(request: web.Request) -> web.Response:
    """Deactivate a user (history keeps pointing at them): their tokens are revoked, their sockets
    disconnected, and an agent is logged out (work back to the queues, seat freed). Safe to retry."""
    ctx = ctx_of(request)
    p = principal(request)
    row = await user_by_id(ctx.pool, p.org_id, request.match_info["id"])
    if row is None:
        raise ApiError(404, "not_found", "no such user")
    await _change_user(ctx, p.org_id, row, {"active": False})
    fresh = await user_by_id(ctx.pool, p.org_id, str(row["id"]))
    assert fresh is not None
    return web.json_response(user_public(fresh))


# -- queues ---------------------------------------------------------------------------------

@api.route("GET", "/api/v1/queues", roles=STAFF, response=QueueList, tag="admin")
async def queues_list(request: web.Request) -> web.Response:
    """Queues of the org."""
    ctx = ctx_of(request)
    qs = await list_queues(ctx.pool, principal(request).org_id)
    return web.json_response({"items": [q.model_dump(mode="json") for q in qs]})


async def _validate_queue(request: web.Request, q: QueueConfig) -> None:
    ctx = ctx_of(request)
    org = principal(request).org_id
    for step in q.escalation:
        overflow = step.overflow_queue
        if overflow and overflow != q.name and await get_queue(ctx.pool, org, overflow) is None:
            raise ApiError(422, "unknown_queue", f"overflow queue {step.overflow_queue!r} does not exist")


@api.route("POST", "/api/v1/queues", roles=ADMIN, body=QueueConfig, response=QueueConfig, status=201, tag="admin")
async def queues_create(request: web.Request) -> web.Response:
    """Create a queue; it routes at once, no restart."""
    ctx = ctx_of(request)
    p = principal(request)
    q: QueueConfig = body(request)
    if await get_queue(ctx.pool, p.org_id, q.name) is not None:
        raise ApiError(409, "conflict", "a queue with this name exists")
    await _validate_queue(request, q)
    await save_queue(ctx.pool, ctx.redis, p.org_id, q)
    await ctx.extras["refresh_org_agents"](p.org_id)
    return web.json_response(q.model_dump(mode="json"), status=201)


@api.route("GET", "/api/v1/queues/{name}", roles=STAFF, response=QueueConfig, tag="admin")
async def queues_get(request: web.Request) -> web.Response:
    """One queue."""
    ctx = ctx_of(request)
    q = await get_queue(ctx.pool, principal(request).org_id, request.match_info["name"])
    if q is None:
        raise ApiError(404, "not_found", "no such queue")
    return web.json_response(q.model_dump(mode="json"))


@api.route("PUT", "/api/v1/queues/{name}", roles=ADMIN, body=QueueConfig, response=QueueConfig, tag="admin")
async def queues_put(request: web.Request) -> web.Response:
    """Replace a queue's settings; takes effect at once."""
    ctx = ctx_of(request)
    p = principal(request)
    q: QueueConfig = body(request)
    if q.name != request.match_info["name"]:
        raise ApiError(422, "validation_error", "the body's name must match the path")
    if await get_queue(ctx.pool, p.org_id, q.name) is None:
        raise ApiError(404, "not_found", "no such queue")
    await _validate_queue(request, q)
    await save_queue(ctx.pool, ctx.redis, p.org_id, q)
    await ctx.extras["refresh_org_agents"](p.org_id)
    return web.json_response(q.model_dump(mode="json"))


@api.route("DELETE", "/api/v1/queues/{name}", roles=ADMIN, response=QueueConfig, tag="admin")
async def queues_delete(request: web.Request) -> web.Response:
    """Delete an empty queue."""
    ctx = ctx_of(request)
    p = principal(request)
    q = await get_queue(ctx.pool, p.org_id, request.match_info["name"])
    if q is None:
        raise ApiError(404, "not_found", "no such queue")
    busy = await ctx.pool.fetchval(
        "SELECT count(*) FROM interactions WHERE org_id=$1 AND queue=$2"
        " AND state IN ('queued','offered','connected','wrap_up')",
        p.org_id, q.name,
    )
    if busy:
        raise ApiError(409, "queue_not_empty", f"{busy} open interactions use this queue")
    await delete_queue(ctx.pool, ctx.redis, p.org_id, q.name)
    await ctx.extras["refresh_org_agents"](p.org_id)
    return web.json_response(q.model_dump(mode="json"))


# -- skills and codes -----------------------------------------------------------------------

def _crud_codes(path: str, table: str, key: str, model: type[BaseModel], label_field: str) -> None:
    """Skills, idle codes and wrap-up codes are all (org, name, text) lists with the same CRUD."""

    @api.route("GET", path, roles=("agent", "supervisor", "admin"), response=ItemList, tag="admin",
               summary=f"List {table}")
    async def list_items(request: web.Request) -> web.Response:
        ctx = ctx_of(request)
        rows = await ctx.pool.fetch(f"SELECT {key}, {label_field} FROM {table} WHERE org_id=$1 ORDER BY {key}",
                                    principal(request).org_id)
        return web.json_response({"items": [dict(r) for r in rows]})

    @api.route("POST", path, roles=ADMIN, body=model, response=ItemList, status=201, tag="admin",
               summary=f"Create in {table}")
    async def create_item(request: web.Request) -> web.Response:
        ctx = ctx_of(request)
        item = body(request).model_dump()
        done = await ctx.pool.fetchval(
            f"INSERT INTO {table} (org_id, {key}, {label_field}) VALUES ($1,$2,$3)"
            f" ON CONFLICT DO NOTHING RETURNING {key}",
            principal(request).org_id, item[key], item[label_field],
        )
        if done is None:
            raise ApiError(409, "conflict", f"{item[key]!r} exists")
        return web.json_response({"items": [item]}, status=201)

    @api.route("DELETE", path + "/{key}", roles=ADMIN, response=ItemList, tag="admin", summary=f"Delete from {table}")
    async def delete_item(request: web.Request) -> web.Response:
        ctx = ctx_of(request)
        row = await ctx.pool.fetchrow(
            f"DELETE FROM {table} WHERE org_id=$1 AND {key}=$2 RETURNING {key}, {label_field}",
            principal(request).org_id, request.match_info["key"],
        )
        if row is None:
            raise ApiError(404, "not_found", "no such item")
        return web.json_response({"items": [dict(row)]})

    list_items.__name__ = f"list_{table}"
    create_item.__name__ = f"create_{table}"
    delete_item.__name__ = f"delete_{table}"


_crud_codes("/api/v1/skills", "skills", "name", SkillIn, "description")
_crud_codes("/api/v1/idle-codes", "idle_codes", "code", CodeIn, "label")
_crud_codes("/api/v1/wrap-up-codes", "wrap_up_codes", "code", CodeIn, "label")


# -- API keys -------------------------------------------------------------------------------

def _key_out(r: Any, key: str | None = None) -> dict[str, Any]:
    return {"id": str(r["id"]), "name": r["name"], "prefix": r["prefix"], "key": key,
            "created_at": r["created_at"].isoformat(),
            "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None}


@api.route("GET", "/api/v1/api-keys", roles=ADMIN, response=ItemList, tag="admin")
async def keys_list(request: web.Request) -> web.Response:
    """Integration keys (never the secret itself)."""
    ctx = ctx_of(request)
    rows = await ctx.pool.fetch("SELECT id, name, prefix, created_at, revoked_at FROM api_keys WHERE org_id=$1"
                                " ORDER BY created_at", principal(request).org_id)
    return web.json_response({"items": [_key_out(r) for r in rows]})


@api.route("POST", "/api/v1/api-keys", roles=ADMIN, body=ApiKeyIn, response=ApiKeyOut, status=201, tag="admin")
async def keys_create(request: web.Request) -> web.Response:
    """Create an integration key; the key is shown in this response only."""
    ctx = ctx_of(request)
    key = new_api_key()
    row = await ctx.pool.fetchrow(
        "INSERT INTO api_keys (id, org_id, name, key_hash, prefix) VALUES ($1,$2,$3,$4,$5)"
        " RETURNING id, name, prefix, created_at, revoked_at",
        uuid.uuid4(), principal(request).org_id, body(request).name, api_key_hash(key), key[:8],
    )
    return web.json_response(_key_out(row, key), status=201)


@api.route("DELETE", "/api/v1/api-keys/{id}", roles=ADMIN, response=ApiKeyOut, tag="admin")
async def keys_revoke(request: web.Request) -> web.Response:
    """Revoke an integration key at once."""
    ctx = ctx_of(request)
    try:
        kid = uuid.UUID(request.match_info["id"])
    except ValueError as e:
        raise ApiError(404, "not_found", "no such key") from e
    row = await ctx.pool.fetchrow(
        "UPDATE api_keys SET revoked_at=coalesce(revoked_at, now()) WHERE org_id=$1 AND id=$2"
        " RETURNING id, name, prefix, created_at, revoked_at, key_hash",
        principal(request).org_id, kid,
    )
    if row is None:
        raise ApiError(404, "not_found", "no such key")
    forget_api_key(row["key_hash"])
    return web.json_response(_key_out(row))
