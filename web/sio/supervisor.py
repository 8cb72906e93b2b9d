"""The /supervisor namespace: a snapshot on connect, then batched queue and agent updates."""

from __future__ import annotations

from typing import Any

import socketio

from queues.live_stats import agent_grid, org_timezone, queue_stats
from web.context import Context
from web.sio.common import authenticate, err
from web.sio.rooms import supervisors_room


async def snapshot(ctx: Context, org_id: str) -> dict[str, Any]:
    now = ctx.clock.now()
    tz = await org_timezone(ctx.pool, org_id)
    queues = await ctx.queues.queues(org_id)
    return {
        "queues": await queue_stats(ctx.pool, ctx.redis, org_id, tz, queues, None, now),
        "agents": await agent_grid(ctx.pool, ctx.redis, org_id, now),
    }


class SupervisorNamespace(socketio.AsyncNamespace):
    def __init__(self, ctx: Context) -> None:
        super().__init__("/supervisor")
        self.ctx = ctx

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        p = await authenticate(self.ctx, auth, ("supervisor", "admin"))
        await self.save_session(sid, {"org_id": p.org_id, "user_id": p.subject})
        await self.enter_room(sid, supervisors_room(p.org_id))
        await self.emit("snapshot", await snapshot(self.ctx, p.org_id), to=sid)

    async def on_snapshot(self, sid: str, data: Any = None) -> dict[str, Any]:
        s = await self.get_session(sid)
        return {"ok": True, **await snapshot(self.ctx, s["org_id"])}

    async def trigger_event(self, event_name: str, *args: Any) -> Any:
        name = event_name.replace(":", "_")
        if getattr(self, "on_" + name, None) is None and event_name not in ("connect", "disconnect"):
            return err("unknown_event", f"no such event: {event_name}")
        return await super().trigger_event(name, *args)


async def stats_for(ctx: Context, org_id: str, names: list[str]) -> list[dict[str, Any]]:
    tz = await org_timezone(ctx.pool, org_id)
    return await queue_stats(ctx.pool, ctx.redis, org_id, tz, await ctx.queues.queues(org_id), names, ctx.clock.now())
