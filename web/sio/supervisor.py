"""The /supervisor namespace: a snapshot on connect, then batched queue and agent updates."""

from __future__ import annotations

from typing import Any

from queues.live_stats import agent_grid, org_timezone, queue_stats
from web.context import Context
from web.sessions import forget_socket, remember_socket
from web.sio.common import GuardedNamespace, authenticate
from web.sio.rooms import supervisors_room


async def snapshot(ctx: Context, org_id: str) -> dict[str, Any]:
    now = ctx.clock.now()
    tz = await org_timezone(ctx.pool, org_id)
    queues = await ctx.queues.queues(org_id)
    return {
        "queues": await queue_stats(ctx.pool, ctx.redis, org_id, tz, queues, None, now),
        "agents": await agent_grid(ctx.pool, ctx.redis, org_id, now),
    }


class SupervisorNamespace(GuardedNamespace):
    def __init__(self, ctx: Context) -> None:
        super().__init__("/supervisor")
        self.ctx = ctx

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        p = await authenticate(self.ctx, auth, ("supervisor", "admin"))
        pipe = self.ctx.redis.pipeline(transaction=False)
        remember_socket(pipe, p.org_id, p.subject, "/supervisor", sid)  # so deactivating the user can end it
        await pipe.execute()
        await self.save_session(sid, {"org_id": p.org_id, "user_id": p.subject})
        await self.enter_room(sid, supervisors_room(p.org_id))
        # the socket is on this process: no need to publish the snapshot to every node through Redis
        await self.emit("snapshot", await snapshot(self.ctx, p.org_id), to=sid, ignore_queue=True)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        s = await self.get_session(sid)
        if s:
            await forget_socket(self.ctx.redis, s["org_id"], s["user_id"], "/supervisor", sid)

    async def on_snapshot(self, sid: str, data: Any = None) -> dict[str, Any]:
        s = await self.get_session(sid)
        return {"ok": True, **await snapshot(self.ctx, s["org_id"])}


async def stats_for(ctx: Context, org_id: str, names: list[str]) -> list[dict[str, Any]]:
    tz = await org_timezone(ctx.pool, org_id)
    return await queue_stats(ctx.pool, ctx.redis, org_id, tz, await ctx.queues.queues(org_id), names, ctx.clock.now())
