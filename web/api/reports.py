"""REST for supervisors: historical 15-minute interval reports per queue and per agent, JSON and CSV.

Figures come from ``interval_stats``; a request that reaches past what has been rolled up rolls
the missing intervals first, and a background job keeps closed and current intervals rolled.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web
from pydantic import BaseModel

from reports.store import StoredInterval, agent_names, ensure_rolled, fetch_intervals, org_zone
from switchboard.clock import to_datetime
from web.context import Context, ctx_of
from web.errors import ApiError
from web.routes import STAFF, api, principal

log = structlog.get_logger(__name__)
MAX_RANGE = timedelta(days=31)
ROLLUP_EVERY_S = 60.0
# One process rolls up at a time; the lock lapses before the next round so another may take over.
ROLLUP_LOCK = "sb:reports-lock"
ROLLUP_LOCK_TTL_S = 55
QUEUE_COLUMNS = ("interval_start", "queue", "offered", "answered", "abandoned", "answered_in_sl",
                 "service_level", "asa_s", "aht_s", "avg_wrap_s", "rona")
AGENT_COLUMNS = ("interval_start", "agent_id", "display_name", "offered", "answered", "rona", "handled",
                 "handle_s_total", "aht_s", "wrapped", "wrap_s_total", "avg_wrap_s", "busy_s", "occupancy")
QUERY = {"from": "string", "to": "string"}


class QueueInterval(BaseModel):
    interval_start: str
    queue: str
    offered: int
    answered: int
    abandoned: int
    answered_in_sl: int
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
    avg_wrap_s: float | None
    rona: int
    abandoned_after_sl: int = 0
    handled: int = 0
    wrapped: int = 0


class QueueIntervals(BaseModel):
    items: list[QueueInterval]


class AgentInterval(BaseModel):
    interval_start: str
    agent_id: str
    display_name: str | None
    offered: int
    answered: int
    rona: int
    handled: int
    handle_s_total: float
    aht_s: float | None
    wrapped: int
    wrap_s_total: float
    avg_wrap_s: float | None
    busy_s: float
    occupancy: float | None


class AgentIntervals(BaseModel):
    items: list[AgentInterval]


def _parse_time(request: web.Request, name: str, tz: ZoneInfo, default: datetime) -> datetime:
    raw = request.query.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        t = datetime.fromisoformat(raw.strip())
    except ValueError as e:
        raise ApiError(422, "validation_error", f"query parameter {name!r} must be an ISO 8601 date or time",
                       {"param": name, "value": raw}) from e
    # a date or time without an offset is on the org's local clock
    return t.replace(tzinfo=tz) if t.tzinfo is None else t


async def _range(request: web.Request) -> tuple[Context, str, datetime, datetime, datetime]:
    """Org, validated [from, to) range and now; rolls up whatever the range needs first."""
    ctx = ctx_of(request)
    org = principal(request).org_id
    tz = await org_zone(ctx.pool, org)
    now = to_datetime(ctx.clock.now())
    midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    frm = _parse_time(request, "from", tz, midnight)
    to = _parse_time(request, "to", tz, now)
    if frm > to:
        raise ApiError(422, "validation_error", "'from' must not be after 'to'",
                       {"from": frm.isoformat(), "to": to.isoformat()})
    if to - frm > MAX_RANGE:
        raise ApiError(422, "validation_error", "a report covers at most 31 days", {"max_days": 31})
    await ensure_rolled(ctx.pool, org, to, now)
    return ctx, org, frm, to, now


def _queue_item(s: StoredInterval) -> dict[str, Any]:
    f = s.figures
    return {
        "interval_start": s.interval_start.isoformat(), "queue": s.key,
        "offered": f.get("offered", 0), "answered": f.get("answered", 0), "abandoned": f.get("abandoned", 0),
        "answered_in_sl": f.get("answered_in_sl", 0), "service_level": f.get("service_level"),
        "asa_s": f.get("asa_s"), "aht_s": f.get("aht_s"), "avg_wrap_s": f.get("avg_wrap_s"),
        "rona": f.get("rona", 0), "abandoned_after_sl": f.get("abandoned_after_sl", 0),
        "handled": f.get("handled", 0), "wrapped": f.get("wrapped", 0),
    }


async def _queue_items(request: web.Request) -> list[dict[str, Any]]:
    ctx, org, frm, to, _ = await _range(request)
    rows = await fetch_intervals(ctx.pool, org, "queue", frm, to, request.query.get("queue") or None)
    return [_queue_item(s) for s in rows]


async def _agent_items(request: web.Request) -> list[dict[str, Any]]:
    ctx, org, frm, to, _ = await _range(request)
    rows = await fetch_intervals(ctx.pool, org, "agent", frm, to, request.query.get("agent") or None)
    names = await agent_names(ctx.pool, org, sorted({s.key for s in rows}))
    out = []
    for s in rows:
        f = s.figures
        out.append({
            "interval_start": s.interval_start.isoformat(), "agent_id": s.key,
            "display_name": names.get(s.key),
            **{k: f.get(k, 0) for k in ("offered", "answered", "rona", "handled", "handle_s_total", "wrapped",
                                        "wrap_s_total", "busy_s")},
            **{k: f.get(k) for k in ("aht_s", "avg_wrap_s", "occupancy")},
        })
    return out


def _csv(items: list[dict[str, Any]], columns: tuple[str, ...], name: str) -> web.Response:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    for it in items:
        w.writerow(["" if it.get(c) is None else it.get(c) for c in columns])
    return web.Response(text=buf.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@api.route("GET", "/api/v1/reports/intervals", roles=STAFF, response=QueueIntervals, tag="reports",
           query={**QUERY, "queue": "string"})
async def queue_intervals(request: web.Request) -> web.Response:
    """15-minute intervals per queue: offered, answered, abandoned, service level, ASA, AHT, wrap-up, RONA."""
    return web.json_response({"items": await _queue_items(request)})


@api.route("GET", "/api/v1/reports/intervals.csv", roles=STAFF, tag="reports",
           query={**QUERY, "queue": "string"})
async def queue_intervals_csv(request: web.Request) -> web.Response:
    """The queue intervals report as CSV (text/csv)."""
    return _csv(await _queue_items(request), QUEUE_COLUMNS, "intervals.csv")


@api.route("GET", "/api/v1/reports/agents", roles=STAFF, response=AgentIntervals, tag="reports",
           query={**QUERY, "agent": "string"})
async def agent_intervals(request: web.Request) -> web.Response:
    """15-minute intervals per agent: offered, answered, RONA, handle and wrap-up time, occupancy."""
    return web.json_response({"items": await _agent_items(request)})


@api.route("GET", "/api/v1/reports/agents.csv", roles=STAFF, tag="reports",
           query={**QUERY, "agent": "string"})
async def agent_intervals_csv(request: web.Request) -> web.Response:
    """The agent intervals report as CSV (text/csv)."""
    return _csv(await _agent_items(request), AGENT_COLUMNS, "agents.csv")


async def rollup_round(ctx: Context) -> int:
    """Roll closed and current intervals of every org, if this process holds the lock."""
    if not await ctx.redis.set(ROLLUP_LOCK, ctx.node_id, nx=True, ex=ROLLUP_LOCK_TTL_S):
        return 0
    now = to_datetime(ctx.clock.now())
    written = 0
    for r in await ctx.pool.fetch("SELECT id FROM orgs ORDER BY id"):
        try:
            written += await ensure_rolled(ctx.pool, r["id"], now, now)
        except Exception:
            log.exception("report_rollup_failed", org_id=r["id"])
    return written


async def _rollup_forever(ctx: Context) -> None:
    while True:
        try:
            await rollup_round(ctx)
        except Exception:
            log.exception("report_rollup_round_failed")
        await asyncio.sleep(ROLLUP_EVERY_S)


async def on_startup(ctx: Context, background: bool) -> list[asyncio.Task[None]]:
    if not background:
        return []
    return [asyncio.create_task(_rollup_forever(ctx))]

