"""REST: login and logout; the revocation probe starts with the app."""

from __future__ import annotations

import asyncio
import time

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from agents.store import user_by_email
from switchboard.db import PG_DOWN
from switchboard.redis_conn import REDIS_DOWN
from web.auth import issue_token, verify_password
from web.context import Context, ctx_of
from web.errors import ApiError
from web.revocation import revocations_for
from web.routes import ALL_USERS, api, body, principal
from web.security import check_rate

log = structlog.get_logger(__name__)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    token: str
    role: str
    user_id: str
    org_id: str
    display_name: str
    expires_at: float


class Ok(BaseModel):
    ok: bool


@api.route("POST", "/api/v1/auth/login", roles=None, body=LoginRequest, response=LoginResponse, tag="auth")
async def login(request: web.Request) -> web.Response:
    """Exchange email and password for a bearer token."""
    ctx = ctx_of(request)
    req: LoginRequest = body(request)
    await check_rate(ctx.redis, "_", f"login:{req.email.lower()}", ctx.settings.login_rate_per_min, 60)
    row = await user_by_email(ctx.pool, req.email)
    if not verify_password(row["password_hash"] if row else None, req.password) or row is None or not row["active"]:
        raise ApiError(401, "invalid_credentials", "wrong email or password")
    token, _, exp = issue_token(ctx.settings.secret_key, row["org_id"], str(row["id"]), row["role"],
                                ctx.settings.token_ttl_s)
    return web.json_response({"token": token, "role": row["role"], "user_id": str(row["id"]),
                              "org_id": row["org_id"], "display_name": row["display_name"], "expires_at": exp})


@api.route("POST", "/api/v1/auth/logout", roles=ALL_USERS, response=Ok, tag="auth")
async def logout(request: web.Request) -> web.Response:
    """Revoke this token everywhere (its id stays on the revoked list until it would have expired);
    PostgreSQL keeps the record, so a logout works while Redis is down."""
    ctx = ctx_of(request)
    p = principal(request)
    if p.token_id:
        expires_at = p.expires_at or time.time() + ctx.settings.token_ttl_s
        await revocations_for(ctx.pool, ctx.redis).revoke(p.token_id, expires_at)
    return web.json_response({"ok": True})


async def on_startup(ctx: Context, background: bool) -> list[asyncio.Task[None]]:
    """Fill Redis's revoked set from PostgreSQL before serving (or check PostgreSQL until it can be)."""
    revocations = revocations_for(ctx.pool, ctx.redis)
    try:
        await revocations.sync()
    except (*REDIS_DOWN, *PG_DOWN) as e:
        revocations.distrust(e)
        log.warning("revocations_not_synced_at_startup", error=repr(e))
    return [asyncio.create_task(revocations.watch())] if background else []
