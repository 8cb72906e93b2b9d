"""Messages inside a conversation: stored as the transcript, then delivered to the other side."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from queues import store
from web.context import Context
from web.sio.delivery import Delivery

Outbound = Callable[[str, str, str, str, int], Awaitable[None]]


class Conversations:
    def __init__(self, ctx: Context, delivery: Delivery) -> None:
        self.ctx = ctx
        self.delivery = delivery
        # channel → sender of agent replies to the provider (set by the channels wiring)
        self.outbound: dict[str, Outbound] = {}

    async def customer_said(self, org_id: str, interaction_id: str, text: str, at: datetime) -> None:
        live = await self.ctx.router.interaction_live(org_id, interaction_id)
        if live and live.get("agent") and live.get("state") in ("connected", "offered"):
            await self.delivery.message_to_agent(org_id, live["agent"], interaction_id, "customer", text, at)

    async def agent_said(
        self, org_id: str, agent_id: str, interaction_id: str, live: dict[str, str], text: str, at: datetime
    ) -> int:
        mid = await store.add_message(self.ctx.pool, org_id, interaction_id, "agent", agent_id, text, at)
        channel = live.get("channel", "chat")
        if channel == "chat":
            payload = {"from": "agent", "text": text, "at": at.isoformat()}
            await self.delivery.emit_to_chat(org_id, interaction_id, "message", payload)
        elif channel in self.outbound:
            await self.outbound[channel](org_id, interaction_id, channel, text, mid)
        return mid
