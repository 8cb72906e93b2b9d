"""REST, admin only: a customer's data export and erasure, the org's transcript retention, and the
hourly purge job that enforces it."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from channels import keys as channel_keys
from customers import profiles
from switchboard import keys
from web.context import Context, ctx_of
from web.errors import ApiError
from web.routes import ADMIN, api, body, principal

log = structlog.get_logger(__name__)
PURGE_EVERY_S = 3600


class RetentionIn(BaseModel):
    """Days a closed interaction's transcript is kept; null keeps transcripts for ever."""

    model_config = ConfigDict(extra="forbid")
    days: int | None = Field(ge=1, le=3650)


class RetentionOut(BaseModel):
    days: int | None


class ExportOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    customer: dict[str, Any]
    interactions: list[dict[str, Any]]


class ErasureOut(BaseModel):
    customer_id: str
    messages_scrubbed: int
    identities_removed: int
    interactions_kept: int


def _missing() -> ApiError:
    return ApiError(404, "not_found", "no such customer")


@api.route("GET", "/api/v1/customers/{id}/export", roles=ADMIN, response=ExportOut, tag="privacy")
async def export_customer(request: web.Request) -> web.Response:
    """Everything held about the customer: profile, identities, interactions and transcripts."""
    ctx = ctx_of(request)
    try:
        data = await profiles.export(ctx.pool, principal(request).org_id, request.match_info["id"])
    except profiles.ProfileError as e:
        raise _missing() from e
    if data is None:
        raise _missing()
    return web.json_response(data, headers={"Content-Disposition": "attachment; filename=customer-export.json"})


@api.route("POST", "/api/v1/customers/{id}/erase", roles=ADMIN, response=ErasureOut, tag="privacy")
async def erase_customer(request: web.Request) -> web.Response:
    """Right to be forgotten: transcripts read "[erased]", identities and name go; statistics stay."""
    ctx = ctx_of(request)
    p = principal(request)
    cid = request.match_info["id"]
    try:
        counts = await profiles.erase(ctx.pool, p.org_id, cid, p.subject, ctx.clock.now())
    except profiles.ProfileError as e:
        raise _missing() from e
    if counts is None:
        raise _missing()
    await _forget_live_names(ctx, p.org_id, cid)
    return web.json_response({"customer_id": cid, **counts})


@api.route("GET", "/api/v1/org/retention", roles=ADMIN, response=RetentionOut, tag="privacy")
async def get_retention(request: web.Request) -> web.Response:
    """How many days closed conversations keep their transcripts."""
    ctx = ctx_of(request)
    return web.json_response({"days": await profiles.get_retention(ctx.pool, principal(request).org_id)})


@api.route("PUT", "/api/v1/org/retention", roles=ADMIN, body=RetentionIn, response=RetentionOut, tag="privacy")
async def put_retention(request: web.Request) -> web.Response:
    """Set the retention; the hourly purge scrubs transcripts older than it."""
    ctx = ctx_of(request)
    p = principal(request)
    data: RetentionIn = body(request)
    await profiles.set_retention(ctx.pool, p.org_id, data.days)
    await ctx.pool.execute(
        "INSERT INTO audit_log (org_id, actor, action, data) VALUES ($1, $2, 'retention.set', $3)",
        p.org_id,
        p.subject,
        {"days": data.days},
    )
    return web.json_response({"days": data.days})


async def _forget_live_names(ctx: Context, org_id: str, customer_id: str) -> None:
    """Desktops show the name Redis copied at enqueue; conversations still live lose it too."""
    rows = await ctx.pool.fetch(
        "SELECT id FROM interactions WHERE org_id=$1 AND customer_id=$2::uuid AND state = ANY($3::text[])",
        org_id,
        customer_id,
        ["queued", "offered", "connected", "wrap_up"],
    )
    for r in rows:
        key = keys.interaction(org_id, str(r["id"]))
        if await ctx.redis.exists(key):
            await ctx.redis.hset(key, "cname", "")


async def purge_once(ctx: Context) -> int:
    """One purge pass, by at most one process of the deployment at a time; returns messages scrubbed."""
    if not await ctx.redis.set(channel_keys.purge_lock(), ctx.node_id, nx=True, ex=PURGE_EVERY_S - 60):
        return 0
    scrubbed = await profiles.purge_expired(ctx.pool, ctx.clock.now())
    log.info("retention_purge", messages=scrubbed)
    return scrubbed


async def purge_forever(ctx: Context) -> None:
    while True:
        try:
            await purge_once(ctx)
        except Exception:
            log.exception("retention_purge_failed")
        await asyncio.sleep(PURGE_EVERY_S)


async def on_startup(ctx: Context, background: bool) -> list[asyncio.Task[None]]:
    if not background:
        return []
    return [asyncio.create_task(purge_forever(ctx), name="retention-purge")]
