"""Messages inside a conversation: stored as the transcript, then delivered to the other side.

While PostgreSQL is down a chat goes on: a message that cannot be stored waits in the org's report
spool in Redis (routing/spool.py), in order with the routing reports around it, and is delivered
live meanwhile. The replay writes it to the transcript, and an agent's reply on a provider channel
(SMS, WhatsApp, ...) is only then queued for the provider, since its send needs the stored row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import asyncpg
import structlog

from queues import store
from switchboard.db import PG_DOWN
from web.context import Context
from web.errors import ApiError
from web.sio.delivery import Delivery

log = structlog.get_logger(__name__)


class Outbound(Protocol):
    """The sender of an agent's reply to the provider: ``db`` is the replay's transaction, if any."""

    async def __call__(
        self, org_id: str, interaction_id: str, channel: str, text: str, message_id: int, db: Any = None
    ) -> None: ...


class Conversations:
    def __init__(self, ctx: Context, delivery: Delivery) -> None:
        self.ctx = ctx
        self.delivery = delivery
        # channel → sender of agent replies to the provider (set by the channels wiring)
        self.outbound: dict[str, Outbound] = {}
        ctx.router.recorder.add_hook(SpooledMessages(self))

    async def customer_said(self, org_id: str, interaction_id: str, text: str, at: datetime) -> None:
        live = await self.ctx.router.interaction_live(org_id, interaction_id)
        if live and live.get("agent") and live.get("state") in ("connected", "offered"):
            await self.delivery.message_to_agent(org_id, live["agent"], interaction_id, "customer", text, at)

    async def customer_chatted(self, org_id: str, interaction_id: str, text: str, at: datetime) -> int | None:
        """A web-chat customer's message: stored (or spooled), then shown to the agent."""
        mid = await self._store(org_id, interaction_id, "customer", None, "chat", text, at)
        await self.customer_said(org_id, interaction_id, text, at)
        return mid

    async def agent_said(
        self, org_id: str, agent_id: str, interaction_id: str, live: dict[str, str], text: str, at: datetime
    ) -> int | None:
        """The transcript row's id, or None while the message waits for PostgreSQL."""
        channel = live.get("channel", "chat")
        mid = await self._store(org_id, interaction_id, "agent", agent_id, channel, text, at)
        if channel == "chat":
            payload = {"from": "agent", "text": text, "at": at.isoformat()}
            await self.delivery.emit_to_chat(org_id, interaction_id, "message", payload)
        elif mid is not None and channel in self.outbound:
            await self.outbound[channel](org_id, interaction_id, channel, text, mid)
        return mid

    async def _store(
        self, org_id: str, interaction_id: str, sender: str, agent_id: str | None, channel: str, text: str,
        at: datetime,
    ) -> int | None:
        try:
            return await store.add_message(self.ctx.pool, org_id, interaction_id, sender, agent_id, text, at)
        except PG_DOWN as e:
            message = {"iid": interaction_id, "sender": sender, "agent": agent_id, "channel": channel, "text": text,
                       "at": at.isoformat()}
            # raises when Redis is down too: the sender gets an error, nothing is claimed as sent
            report = (org_id, {"messages": [message]}, int(at.timestamp() * 1000))
            if await self.ctx.router.recorder.spool.push([report]):
                raise ApiError(503, "service_unavailable", "the database is unreachable and the org's spool is full;"
                               " retry shortly") from e
            log.warning("message_spooled_postgres_down", org_id=org_id, interaction_id=interaction_id,
                        sender=sender, error=repr(e))
            return None

    async def write_spooled(self, conn: asyncpg.Connection, org_id: str, message: dict[str, Any]) -> None:
        at = datetime.fromisoformat(message["at"])
        mid = await store.add_message(conn, org_id, message["iid"], message["sender"], message["agent"],
                                      message["text"], at)
        channel = message["channel"]
        if message["sender"] == "agent" and channel != "chat" and channel in self.outbound:
            await self.outbound[channel](org_id, message["iid"], channel, message["text"], mid, db=conn)


class SpooledMessages:
    """The recorder hook that writes messages spooled during a PostgreSQL outage, when the spool is
    replayed (they never come through the routing path, so ``wants`` is always false)."""

    def __init__(self, conversations: Conversations) -> None:
        self.conversations = conversations

    def wants(self, org_id: str, report: dict[str, Any]) -> bool:
        return False

    async def pick(self, reports: list[store.RecordedReport]) -> list[store.RecordedReport]:
        return [r for r in reports if r[1].get("messages")]

    async def write(self, conn: asyncpg.Connection, reports: list[store.RecordedReport]) -> None:
        for org_id, report, _ in reports:
            for message in report["messages"]:
                await self.conversations.write_spooled(conn, org_id, message)
