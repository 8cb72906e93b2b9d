"""The /customer namespace: the embeddable web chat. A chat is authorised by a signed chat token
issued at chat:start, so a customer can only ever see and write to their own conversation."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from queues import store
from queues.model import CustomerRef, Identity, IntakeRequest
from routing.intake import IntakeError, create_interaction_idempotent
from switchboard.clock import to_datetime
from web.context import Context
from web.conversations import Conversations
from web.sio.common import GuardedNamespace, err, event, ok, refuse
from web.sio.rooms import chat_room

log = structlog.get_logger(__name__)
CHAT_TOKEN_TTL_S = 24 * 3600
ENDED = ("completed", "abandoned", "failed")


class CustomerAuth(BaseModel):
    """The widget's connect payload: which organisation, and the chat token of a chat to resume."""

    org: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00]+$")  # PostgreSQL text holds no NUL
    chat_token: str | None = Field(default=None, max_length=4096)


class ChatStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)
    identity: Identity | None = None
    message: str | None = Field(default=None, max_length=20_000)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)


async def chat_queue(ctx: Context, org_id: str) -> str | None:
    """The org's web-chat queue: its configured one, else the first queue that takes chat."""
    row = await ctx.pool.fetchrow("SELECT settings FROM orgs WHERE id=$1", org_id)
    if row is None:
        return None
    configured = (row["settings"] or {}).get("chat_queue")
    queues = await ctx.queues.queues(org_id)
    if configured in queues:
        return str(configured)
    for name, q in sorted(queues.items()):
        if "chat" in q.channels:
            return name
    return None


class CustomerNamespace(GuardedNamespace):
    def __init__(self, ctx: Context, conversations: Conversations) -> None:
        super().__init__("/customer")
        self.ctx = ctx
        self.conversations = conversations

    def _chat_token(self, org_id: str, interaction_id: str) -> str:
        return jwt.encode({"chat": interaction_id, "org": org_id, "exp": int(time.time()) + CHAT_TOKEN_TTL_S},
                          self.ctx.settings.secret_key, "HS256")

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            a = CustomerAuth.model_validate(auth if isinstance(auth, dict) else {})
        except ValidationError as e:
            raise refuse("unauthorized", "send auth {org, chat_token?}") from e
        org_id = a.org
        if not await self.ctx.pool.fetchval("SELECT 1 FROM orgs WHERE id=$1", org_id):
            raise refuse("unauthorized", "unknown organisation")
        session: dict[str, Any] = {"org_id": org_id, "interaction_id": None}
        token = a.chat_token
        if token:
            try:
                claims = jwt.decode(token, self.ctx.settings.secret_key, algorithms=["HS256"])
            except jwt.PyJWTError as e:
                raise refuse("unauthorized", "invalid chat token") from e
            if claims.get("org") != org_id or "chat" not in claims:
                raise refuse("unauthorized", "invalid chat token")
            session["interaction_id"] = claims["chat"]
            await self._join(sid, org_id, claims["chat"])
        await self.save_session(sid, session)

    async def _join(self, sid: str, org_id: str, interaction_id: str) -> None:
        """Into the chat's room, counted where it lives so its events come to this node only."""
        await self.enter_room(sid, chat_room(org_id, interaction_id))
        await self.conversations.delivery.chat_joined(org_id, interaction_id)

    async def _leave(self, sid: str, org_id: str, interaction_id: str) -> None:
        await self.leave_room(sid, chat_room(org_id, interaction_id))
        await self.conversations.delivery.chat_left(org_id, interaction_id)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        try:
            s = await self.get_session(sid)
        except KeyError:  # refused at connect
            return
        if s.get("interaction_id"):
            await self.conversations.delivery.chat_left(s["org_id"], s["interaction_id"])

    async def _status(self, org_id: str, iid: str) -> dict[str, Any]:
        row = await store.get(self.ctx.pool, org_id, iid)
        live = await self.ctx.router.interaction_live(org_id, iid)
        state = (live or {}).get("state") or (row["state"] if row else "unknown")
        queue = (live or {}).get("queue") or (row["queue"] if row else None)
        from web.api.interactions import live_position

        pos, ewt = (None, None)
        if state == "queued" and queue:
            pos, ewt = await live_position(self.ctx, org_id, queue, iid)
        return {"interaction_id": iid, "state": state, "position": pos, "estimated_wait_s": ewt}

    @event(ChatStart)
    async def on_chat_start(self, sid: str, m: ChatStart) -> dict[str, Any]:
        s = await self.get_session(sid)
        org_id = s["org_id"]
        if s.get("interaction_id"):
            st = await self._status(org_id, s["interaction_id"])
            if st["state"] in ("queued", "offered", "connected"):
                return ok(**st, resumed=True)
        queue = await chat_queue(self.ctx, org_id)
        if queue is None:
            return err("chat_unavailable", "this organisation has no web-chat queue")
        identity = m.identity or Identity(type="webchat", value=f"webchat-{uuid.uuid4().hex}")
        req = IntakeRequest(channel="chat", queue=queue, customer=CustomerRef(identity=identity, name=m.name),
                            message={"text": m.message} if m.message else None)  # type: ignore[arg-type]
        try:
            result = await create_interaction_idempotent(
                self.ctx.pool, self.ctx.router, self.ctx.queues, self.ctx.clock, org_id, req,
                idempotency_key=None, created_by="webchat",
            )
        except IntakeError as e:
            return err(e.code, e.message)
        iid = str(result.record["id"])
        if s.get("interaction_id"):
            await self._leave(sid, org_id, s["interaction_id"])
        await self._join(sid, org_id, iid)
        await self.save_session(sid, {"org_id": org_id, "interaction_id": iid})
        return ok(**await self._status(org_id, iid), chat_token=self._chat_token(org_id, iid))

    @event(None)
    async def on_chat_status(self, sid: str) -> dict[str, Any]:
        s = await self.get_session(sid)
        if not s.get("interaction_id"):
            return err("no_chat", "start a chat first")
        st = await self._status(s["org_id"], s["interaction_id"])
        st["transcript"] = await store.transcript(self.ctx.pool, s["org_id"], s["interaction_id"])
        return ok(**st)

    @event(ChatMessage)
    async def on_message_send(self, sid: str, m: ChatMessage) -> dict[str, Any]:
        s = await self.get_session(sid)
        iid = s.get("interaction_id")
        if not iid:
            return err("no_chat", "start a chat first")
        if await self._closed(s["org_id"], iid):
            return err("chat_closed", "this chat has ended")
        at = to_datetime(self.ctx.clock.now())
        mid = await self.conversations.customer_chatted(s["org_id"], iid, m.text, at)
        return ok(message_id=mid, at=at.isoformat())

    async def _closed(self, org_id: str, iid: str) -> bool:
        """Redis's live state while it holds the chat (it ends there first), else PostgreSQL's row."""
        live = await self.ctx.router.interaction_live(org_id, iid)
        if live and live.get("state"):
            return live["state"] in ENDED
        row = await store.get(self.ctx.pool, org_id, iid)
        return row is None or row["state"] in ENDED

    @event(None)
    async def on_chat_end(self, sid: str) -> dict[str, Any]:
        """The customer leaves: a waiting chat is abandoned; a live one ends for the agent."""
        s = await self.get_session(sid)
        iid = s.get("interaction_id")
        if not iid:
            return err("no_chat", "start a chat first")
        prior = await self.ctx.router.abandon(s["org_id"], iid, "customer")
        await self._leave(sid, s["org_id"], iid)
        await self.save_session(sid, {"org_id": s["org_id"], "interaction_id": None})
        return ok(prior_state=prior)
