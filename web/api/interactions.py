"""REST: interaction intake, reads, customer messages, abandon, and the routing decision log."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from queues import store
from queues.estimate import average_handle_s, estimated_wait_s
from queues.model import IntakeRequest, MessageIn
from routing.intake import IntakeError, create_interaction_idempotent
from switchboard import keys
from switchboard.redis_conn import REDIS_DOWN
from web.auth import Principal
from web.context import Context, ctx_of
from web.errors import ApiError
from web.routes import ALL_USERS, api, body, int_query, principal
from web.security import check_rate

READERS = ("integration", *ALL_USERS)


class IntakeResponse(BaseModel):
    id: str
    state: str
    queue: str
    position: int | None = None
    estimated_wait_s: int | None = None


class InteractionOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    channel: str
    queue: str
    state: str
    priority: int
    position: int | None = None
    estimated_wait_s: int | None = None


class InteractionPage(BaseModel):
    items: list[InteractionOut]
    next_cursor: str | None = None


class MessageOut(BaseModel):
    id: int
    interaction_id: str
    at: str


class DecisionLog(BaseModel):
    interaction_id: str
    decisions: list[dict[str, Any]] = Field(default_factory=list)


async def live_position(ctx: Context, org_id: str, queue: str, interaction_id: str) -> tuple[int | None, int | None]:
    pos = await ctx.router.position(org_id, queue, interaction_id)
    if pos is None:
        return None, None
    members = await ctx.redis.scard(keys.org(org_id) + f"members:{queue}")
    return pos, await wait_estimate(ctx, org_id, queue, pos, members)


async def wait_estimate(ctx: Context, org_id: str, queue: str, position: int, members: int) -> int:
    return estimated_wait_s(position, await average_handle_s(ctx.pool, org_id, queue), members)


async def visible_interaction(ctx: Context, p: Principal, interaction_id: str) -> Any:
    """The row if this caller may see it; agents see only what was offered or assigned to them."""
    row = await store.get(ctx.pool, p.org_id, interaction_id)
    if row is None:
        raise ApiError(404, "not_found", "no such interaction")
    if p.role == "agent":
        mine = row["agent_id"] is not None and str(row["agent_id"]) == p.subject
        if not mine:
            live = await ctx.router.interaction_live(p.org_id, interaction_id)
            mine = bool(live and live.get("agent") == p.subject)
        if not mine:
            # never confirm another agent's interaction exists
            raise ApiError(404, "not_found", "no such interaction")
    return row


@api.route("POST", "/api/v1/interactions", roles=("integration",), body=IntakeRequest, response=IntakeResponse,
           status=201, tag="interactions")
async def create(request: web.Request) -> web.Response:
    """Create an interaction (durable before 201); Idempotency-Key returns the same one."""
    ctx = ctx_of(request)
    p = principal(request)
    await check_rate(ctx.redis, p.org_id, f"intake:{p.subject}", ctx.settings.intake_rate_per_s, 1)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 200):
        raise ApiError(422, "validation_error", "Idempotency-Key must be 1..200 characters")
    try:
        result = await create_interaction_idempotent(
            ctx.pool, ctx.router, ctx.queues, ctx.clock, p.org_id, body(request),
            idempotency_key=key, created_by=f"api_key:{p.subject}",
        )
    except IntakeError as e:
        raise ApiError(e.status, e.code, e.message) from e
    row = result.record
    placed = result.placed
    if placed and placed.get("state"):
        # the enqueue script's report says where it went: no further reads
        state, queue, pos = placed["state"], placed["queue"], placed.get("position")
        ewt = None if pos is None else await wait_estimate(ctx, p.org_id, queue, pos, int(placed.get("members") or 0))
    else:
        try:
            live = await ctx.router.interaction_live(p.org_id, str(row["id"]))
            state = live.get("state", row["state"]) if live else row["state"]
            queue = live.get("queue", row["queue"]) if live else row["queue"]
            pos, ewt = await live_position(ctx, p.org_id, queue, str(row["id"]))
        except REDIS_DOWN:  # stored, to be queued once Redis is back: where it will stand is not known yet
            state, queue, pos, ewt = row["state"], row["queue"], None, None
    out = IntakeResponse(id=str(row["id"]), state=state, queue=queue, position=pos, estimated_wait_s=ewt)
    return web.json_response(out.model_dump(), status=201 if result.created else 200)


async def _with_live(ctx: Context, org_id: str, row: Any) -> dict[str, Any]:
    data = store.to_public(row)
    if data["state"] in ("queued", "offered", "connected", "wrap_up"):
        try:
            live = await ctx.router.interaction_live(org_id, data["id"])
            if live:
                data["state"] = live.get("state", data["state"])
                data["queue"] = live.get("queue", data["queue"])
            if data["state"] == "queued":
                data["position"], data["estimated_wait_s"] = await live_position(
                    ctx, org_id, data["queue"], data["id"]
                )
        except REDIS_DOWN:  # PostgreSQL's record, a moment behind the live state; where it stands is not known
            data["position"] = data["estimated_wait_s"] = None
    return data


@api.route("GET", "/api/v1/interactions/{id}", roles=READERS, response=InteractionOut, tag="interactions")
async def get_one(request: web.Request) -> web.Response:
    """One interaction with its live state, queue position and transcript."""
    ctx = ctx_of(request)
    p = principal(request)
    row = await visible_interaction(ctx, p, request.match_info["id"])
    data = await _with_live(ctx, p.org_id, row)
    data["transcript"] = await store.transcript(ctx.pool, p.org_id, data["id"])
    return web.json_response(data)


def _decode_cursor(raw: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, iid = json.loads(base64.urlsafe_b64decode(raw.encode()).decode())
        return datetime.fromisoformat(at), uuid.UUID(iid)
    except (ValueError, TypeError) as e:
        raise ApiError(422, "validation_error", "cursor is not valid") from e


@api.route("GET", "/api/v1/interactions", roles=READERS, response=InteractionPage, tag="interactions",
           query={"state": "string", "queue": "string", "limit": "integer", "cursor": "string"})
async def list_all(request: web.Request) -> web.Response:
    """Newest first; agents see their own; page with next_cursor."""
    ctx = ctx_of(request)
    p = principal(request)
    limit = int_query(request, "limit", 50, 1, 500)
    state = request.query.get("state") or None
    cursor = _decode_cursor(request.query["cursor"]) if request.query.get("cursor") else None
    rows = await store.list_page(
        ctx.pool, p.org_id, state=state, queue=request.query.get("queue") or None,
        agent_id=p.subject if p.role == "agent" else None, limit=limit, cursor=cursor,
    )
    items = [store.to_public(r) for r in rows]
    nxt = None
    if len(rows) == limit:
        last = rows[-1]
        nxt = base64.urlsafe_b64encode(json.dumps([last["created_at"].isoformat(), str(last["id"])]).encode()).decode()
    return web.json_response({"items": items, "next_cursor": nxt})


@api.route("POST", "/api/v1/interactions/{id}/messages", roles=("integration",), body=MessageIn,
           response=MessageOut, status=201, tag="interactions")
async def customer_message(request: web.Request) -> web.Response:
    """A message from the customer side; the assigned agent sees it live."""
    ctx = ctx_of(request)
    p = principal(request)
    row = await visible_interaction(ctx, p, request.match_info["id"])
    if row["state"] in ("completed", "abandoned", "failed"):
        raise ApiError(409, "interaction_closed", "the interaction is closed")
    msg: MessageIn = body(request)
    at = datetime.fromtimestamp(ctx.clock.now()).astimezone()
    mid = await store.add_message(ctx.pool, p.org_id, str(row["id"]), "customer", None, msg.text, at)
    await ctx.extras["conversations"].customer_said(p.org_id, str(row["id"]), msg.text, at)
    return web.json_response({"id": mid, "interaction_id": str(row["id"]), "at": at.isoformat()}, status=201)


@api.route("DELETE", "/api/v1/interactions/{id}", roles=("integration",), response=InteractionOut,
           tag="interactions")
async def abandon(request: web.Request) -> web.Response:
    """The customer left: a waiting interaction is abandoned; a live one ends for the agent."""
    ctx = ctx_of(request)
    p = principal(request)
    row = await visible_interaction(ctx, p, request.match_info["id"])
    await ctx.router.abandon(p.org_id, str(row["id"]), "customer")
    fresh = await store.get(ctx.pool, p.org_id, str(row["id"]))
    return web.json_response(await _with_live(ctx, p.org_id, fresh))


@api.route("GET", "/api/v1/interactions/{id}/routing", roles=READERS, response=DecisionLog, tag="interactions")
async def routing_log(request: web.Request) -> web.Response:
    """Every routing decision: candidates, why each was passed over, the winner and its rule."""
    ctx = ctx_of(request)
    p = principal(request)
    row = await visible_interaction(ctx, p, request.match_info["id"])
    decisions = await store.decisions(ctx.pool, p.org_id, str(row["id"]))
    return web.json_response({"interaction_id": str(row["id"]), "decisions": decisions})
