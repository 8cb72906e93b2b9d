"""REST for supervisors: live stats, forcing an agent's state, moving a waiting interaction."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from agents.store import user_by_id
from queues.live_stats import agent_grid, org_timezone, queue_stats
from web.context import ctx_of
from web.errors import ApiError
from web.routes import STAFF, api, body, principal
from web.sessions import force_logout


class ForceState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["available", "not_ready", "logged_out"]
    idle_code: str | None = Field(default=None, max_length=64)


class MoveInteraction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queue: str | None = Field(default=None, max_length=64)
    priority: int | None = Field(default=None, ge=0, le=10)


class ItemList(BaseModel):
    items: list[dict[str, Any]]


@api.route("GET", "/api/v1/stats/queues", roles=STAFF, response=ItemList, tag="supervisor")
async def stats_queues(request: web.Request) -> web.Response:
    """Per queue: waiting, longest and estimated wait, service level today, handled, abandoned, agents."""
    ctx = ctx_of(request)
    org = principal(request).org_id
    tz = await org_timezone(ctx.pool, org)
    items = await queue_stats(ctx.pool, ctx.redis, org, tz, await ctx.queues.queues(org), None, ctx.clock.now())
    return web.json_response({"items": items})


@api.route("GET", "/api/v1/stats/agents", roles=STAFF, response=ItemList, tag="supervisor")
async def stats_agents(request: web.Request) -> web.Response:
    """Per agent: state, idle code, time in state, load per channel, current interactions."""
    ctx = ctx_of(request)
    items = await agent_grid(ctx.pool, ctx.redis, principal(request).org_id, ctx.clock.now())
    return web.json_response({"items": items})


@api.route("POST", "/api/v1/agents/{id}/state", roles=STAFF, body=ForceState, response=ItemList, tag="supervisor")
async def force_state(request: web.Request) -> web.Response:
    """Force an agent's state, or log them out (their live work goes back to the queue)."""
    ctx = ctx_of(request)
    p = principal(request)
    row = await user_by_id(ctx.pool, p.org_id, request.match_info["id"])
    if row is None or row["role"] != "agent":
        raise ApiError(404, "not_found", "no such agent")
    m: ForceState = body(request)
    agent_id = str(row["id"])
    live = await ctx.router.agent_live(p.org_id, agent_id)
    if live is None or live["state"] == "logged_out":
        raise ApiError(409, "agent_logged_out", "the agent is not logged in")
    if m.state == "logged_out":
        await force_logout(ctx, p.org_id, agent_id)
    else:
        if m.state == "not_ready":
            ok_codes = {
                r["code"] for r in await ctx.pool.fetch("SELECT code FROM idle_codes WHERE org_id=$1", p.org_id)
            }
            if m.idle_code not in ok_codes:
                raise ApiError(422, "invalid_idle_code", "choose one of the org's idle codes", sorted(ok_codes))
        await ctx.router.set_state(p.org_id, agent_id, m.state, m.idle_code if m.state == "not_ready" else None)
    await ctx.pool.execute(
        "INSERT INTO audit_log (org_id, actor, action, data) VALUES ($1,$2,'agent_state_forced',$3)",
        p.org_id,
        p.subject,
        {"agent_id": agent_id, "state": m.state, "idle_code": m.idle_code},
    )
    return web.json_response({"items": [{"id": agent_id, **(await ctx.router.agent_live(p.org_id, agent_id) or {})}]})


@api.route(
    "POST", "/api/v1/interactions/{id}/move", roles=STAFF, body=MoveInteraction, response=ItemList, tag="supervisor"
)
async def move(request: web.Request) -> web.Response:
    """Move a waiting interaction to another queue and/or change its priority."""
    ctx = ctx_of(request)
    p = principal(request)
    m: MoveInteraction = body(request)
    if m.queue is None and m.priority is None:
        raise ApiError(422, "validation_error", "give a queue or a priority")
    if m.queue is not None and await ctx.queues.get(p.org_id, m.queue) is None:
        raise ApiError(422, "unknown_queue", "no such queue")
    iid = request.match_info["id"]
    live = await ctx.router.interaction_live(p.org_id, iid)
    if not live:
        raise ApiError(404, "not_found", "no such live interaction")
    from routing.router import RoutingError

    try:
        await ctx.router.move(p.org_id, iid, m.queue, m.priority)
    except RoutingError as e:
        raise ApiError(409, e.code, e.message) from e
    if m.priority is not None:
        await ctx.pool.execute(
            "UPDATE interactions SET priority=$3 WHERE org_id=$1 AND id=$2::uuid", p.org_id, iid, m.priority
        )
    return web.json_response({"items": [await ctx.router.interaction_live(p.org_id, iid)]})
