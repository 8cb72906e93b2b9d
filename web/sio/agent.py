"""The /agent namespace: an agent's desktop. Connecting logs the agent in (claiming a license seat);
the last socket gone for the grace period logs them out."""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents import presence
from agents.store import ProfileCache, agent_profile
from queues import store
from switchboard import keys
from switchboard.clock import to_datetime
from switchboard.db import PG_DOWN
from switchboard.redis_conn import REDIS_DOWN
from web.context import Context
from web.errors import ApiError
from web.sessions import forget_socket, remember_socket
from web.sio.common import GuardedNamespace, authenticate, err, event, ok, refuse
from web.sio.delivery import Delivery, interaction_payload
from web.sio.rooms import agent_room

log = structlog.get_logger(__name__)


class StateSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["available", "not_ready", "logged_out"]
    idle_code: str | None = Field(default=None, max_length=64)


class OfferRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offer_id: str = Field(min_length=1, max_length=100)
    reason: str | None = Field(default=None, max_length=200)


class MessageSend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interaction_id: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=20_000)


class InteractionRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interaction_id: str = Field(min_length=1, max_length=64)


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interaction_id: str = Field(min_length=1, max_length=64)
    queue: str | None = Field(default=None, max_length=64)
    agent_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
        if (self.queue is None) == (self.agent_id is None):
            raise ValueError("transfer to exactly one of queue or agent_id")
        return self


class WrapUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interaction_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=64)
    notes: str | None = Field(default=None, max_length=5000)


_CODES: dict[tuple[str, str], tuple[float, list[dict[str, str]]]] = {}
CODES_TTL_S = 5.0


async def org_codes(ctx: Context, table: str, org_id: str) -> list[dict[str, str]]:
    """The org's idle or wrap-up codes, cached a few seconds: read on every wrap-up and not-ready."""
    hit = _CODES.get((table, org_id))
    if hit and hit[0] > time.monotonic():
        return hit[1]
    rows = await ctx.pool.fetch(f"SELECT code, label FROM {table} WHERE org_id=$1 ORDER BY code", org_id)
    codes = [{"code": r["code"], "label": r["label"]} for r in rows]
    _CODES[(table, org_id)] = (time.monotonic() + CODES_TTL_S, codes)
    return codes


def live_agent(h: dict[str, str]) -> dict[str, Any]:
    """State, idle code and load from the agent's hash (an empty hash: never logged in)."""
    return {
        "state": h.get("state") or "logged_out",
        "idle_code": h.get("idle_code") or None,
        "load": json.loads(h.get("load") or "{}"),
    }


class AgentNamespace(GuardedNamespace):
    def __init__(self, ctx: Context, delivery: Delivery) -> None:
        super().__init__("/agent")
        self.ctx = ctx
        self.delivery = delivery
        self.profiles = ProfileCache(ctx.pool)

    async def _who(self, sid: str) -> tuple[str, str]:
        s = await self.get_session(sid)
        structlog.contextvars.bind_contextvars(org_id=s["org_id"], agent_id=s["agent_id"])
        return s["org_id"], s["agent_id"]

    async def claim_seat(self, org_id: str, agent_id: str) -> None:
        if self.ctx.licenses is not None:
            await self.ctx.licenses.check_login(org_id, agent_id)

    async def log_in(self, org_id: str, agent_id: str, version: str | None = None) -> None:
        """Load the agent for routing; ``version`` is the org's config version when the caller has read it."""
        if version is None:
            pipe = self.ctx.redis.pipeline(transaction=False)
            pipe.sadd(keys.active_orgs(), org_id)
            pipe.get(keys.config_version(org_id))
            version = (await pipe.execute())[1] or "0"
        profile = await self.profiles.get(org_id, agent_id, version)
        if profile is None:
            raise ApiError(403, "forbidden", "not an active agent")
        queues = await self.ctx.queues.queues(org_id)
        await presence.login(self.ctx.router, profile, queues)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        p = await authenticate(self.ctx, auth, ("agent",))
        org_id, agent_id = p.org_id, p.subject
        # One round trip for what a login needs to know and do before the seat; adding the org to the
        # active set early is harmless (it is only where the timer pollers look).
        pipe = self.ctx.redis.pipeline(transaction=False)
        pipe.hget(keys.agent(org_id, agent_id), "state")
        # the grace timer may be pending: a reconnect within it keeps the seat
        pipe.zrem(keys.timers(org_id), f"grace|{agent_id}")
        pipe.sadd(keys.active_orgs(), org_id)
        pipe.get(keys.config_version(org_id))
        remember_socket(pipe, org_id, agent_id, "/agent", sid)  # so deactivating the agent can end it
        state, _, _, version = (await pipe.execute())[:4]
        logged_in = state is not None and state != "logged_out"
        if not logged_in:
            try:
                await self.claim_seat(org_id, agent_id)
            except Exception as e:
                code = getattr(e, "code", None)
                if code:
                    raise refuse(code, str(e)) from e
                raise
            try:
                await self.log_in(org_id, agent_id, version or "0")
            except Exception as e:
                # a seat claimed for a login that did not happen goes back at once
                if self.ctx.licenses is not None:
                    await self.ctx.licenses.logout(org_id, agent_id)
                if isinstance(e, ApiError):
                    raise refuse(e.code, e.message) from e
                if isinstance(e, (*REDIS_DOWN, *PG_DOWN)):
                    raise
                log.exception("agent_login_failed", agent_id=agent_id)
                raise refuse("unavailable", "login failed; try again") from e
        await self.save_session(sid, {"org_id": org_id, "agent_id": agent_id, "token_exp": p.expires_at})
        await self.enter_room(sid, agent_room(org_id, agent_id))
        await self.delivery.agent_connected(org_id, agent_id)
        try:
            snapshot = await self.snapshot(org_id, agent_id)
        except BaseException:
            # refused after the socket was counted, and a refused connect gets no on_disconnect:
            # uncount it here, or the agent would look connected for good and keep the seat
            await self._socket_gone(sid, org_id, agent_id)
            raise
        structlog.contextvars.bind_contextvars(agent_id=agent_id)
        log.info("agent_connected", agent_id=agent_id, org_id=org_id, sid=sid, resumed=logged_in)
        # the socket is on this process: emitting through the Redis manager would have every node decode it
        await self.emit("session", snapshot, to=sid, ignore_queue=True)

    async def snapshot(self, org_id: str, agent_id: str) -> dict[str, Any]:
        """Everything the desktop shows, as the server holds it: the server is the truth on reconnect.

        Read after the socket is registered, so an offer made while the agent was logging in (whose
        emit found no socket yet) is in it.
        """
        redis = self.ctx.redis
        now_ms = int(self.ctx.clock.now() * 1000)
        pipe = redis.pipeline(transaction=False)
        pipe.hgetall(keys.agent(org_id, agent_id))
        pipe.smembers(keys.agent(org_id, agent_id) + ":open")
        h, ids = await pipe.execute()
        live = live_agent(h)
        offers: list[dict[str, Any]] = []
        conversations: list[dict[str, Any]] = []
        ids = sorted(ids)
        if ids:
            pipe = redis.pipeline(transaction=False)
            for iid in ids:
                pipe.hgetall(keys.interaction(org_id, iid))
            hashes = await pipe.execute()
        else:
            hashes = []
        for iid, ih in zip(ids, hashes, strict=True):
            if not ih or ih.get("agent") != agent_id:
                continue
            payload = interaction_payload(iid, ih, now_ms)
            if ih.get("state") == "offered":
                offers.append({"offer_id": ih.get("offer"), "interaction": payload, "expires_at": None})
            else:
                payload["transcript"] = await store.transcript(self.ctx.pool, org_id, iid)
                conversations.append(payload)
        if offers:
            pipe = redis.pipeline(transaction=False)
            for o in offers:
                pipe.zscore(keys.timers(org_id), f"offer|{o['interaction']['id']}|{o['offer_id']}")
            for o, score in zip(offers, await pipe.execute(), strict=True):
                o["expires_at"] = to_datetime(score / 1000).isoformat() if score else None
        return {
            "agent_id": agent_id,
            "state": live["state"],
            "idle_code": live["idle_code"],
            "load": live["load"],
            "offers": offers,
            "interactions": conversations,
            "idle_codes": await org_codes(self.ctx, "idle_codes", org_id),
            "wrap_up_codes": await org_codes(self.ctx, "wrap_up_codes", org_id),
        }

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        try:
            org_id, agent_id = await self._who(sid)
        except KeyError:
            return
        left = await self._socket_gone(sid, org_id, agent_id)
        log.info("agent_disconnected", agent_id=agent_id, org_id=org_id, sockets_left=left)

    async def _socket_gone(self, sid: str, org_id: str, agent_id: str) -> int:
        """Uncount the socket; the agent's last socket starts the seat's grace period. Returns the
        sockets the agent still has on any node."""
        left = await self.delivery.agent_disconnected(org_id, agent_id)  # first: it counts even if Redis is down
        await forget_socket(self.ctx.redis, org_id, agent_id, "/agent", sid)
        if left == 0:
            due = int((self.ctx.clock.now() + self.ctx.settings.seat_grace_s) * 1000)
            await self.ctx.redis.zadd(keys.timers(org_id), {f"grace|{agent_id}": due})
        return left

    @event(StateSet)
    async def on_state_set(self, sid: str, m: StateSet) -> dict[str, Any]:
        org_id, agent_id = await self._who(sid)
        live = await self.ctx.router.agent_live(org_id, agent_id)
        if m.state == "logged_out":
            await self.ctx.router.logout(org_id, agent_id)
            if self.ctx.licenses is not None:
                await self.ctx.licenses.logout(org_id, agent_id)
            return ok(state="logged_out")
        if live is None or live["state"] == "logged_out":
            await self.claim_seat(org_id, agent_id)
            await self.log_in(org_id, agent_id)
        if m.state == "not_ready":
            codes = {c["code"] for c in await org_codes(self.ctx, "idle_codes", org_id)}
            if m.idle_code is None or m.idle_code not in codes:
                return err("invalid_idle_code", "choose one of the org's idle codes", sorted(codes))
        elif m.idle_code is not None:
            return err("validation_error", "idle_code goes with not_ready only")
        report = await self.ctx.router.set_state(org_id, agent_id, m.state, m.idle_code)
        me = next((a for a in report.get("agents") or [] if a["id"] == agent_id), None)
        return ok(state=me["state"] if me else m.state, idle_code=m.idle_code)

    @event(OfferRef)
    async def on_offer_accept(self, sid: str, m: OfferRef) -> dict[str, Any]:
        org_id, agent_id = await self._who(sid)
        report = await self.ctx.router.accept(org_id, agent_id, m.offer_id)
        iid = report["connected"][0]["iid"]
        return ok(interaction_id=iid)

    @event(OfferRef)
    async def on_offer_reject(self, sid: str, m: OfferRef) -> dict[str, Any]:
        org_id, agent_id = await self._who(sid)
        await self.ctx.router.reject(org_id, agent_id, m.offer_id)
        return ok()

    async def _own_connected(self, org_id: str, agent_id: str, iid: str) -> dict[str, str]:
        h = await self.ctx.router.interaction_live(org_id, iid)
        if not h or h.get("agent") != agent_id:
            raise ApiError(404, "not_found", "no such interaction of yours")
        if h.get("state") != "connected":
            raise ApiError(409, "invalid_state", "the interaction is not connected")
        return h

    @event(MessageSend)
    async def on_message_send(self, sid: str, m: MessageSend) -> dict[str, Any]:
        org_id, agent_id = await self._who(sid)
        h = await self._own_connected(org_id, agent_id, m.interaction_id)
        at = to_datetime(self.ctx.clock.now())
        mid = await self.ctx.extras["conversations"].agent_said(org_id, agent_id, m.interaction_id, h, m.text, at)
        return ok(message_id=mid, at=at.isoformat())

    @event(Transfer)
    async def on_interaction_transfer(self, sid: str, m: Transfer) -> dict[str, Any]:
        org_id, agent_id = await self._who(sid)
        await self._own_connected(org_id, agent_id, m.interaction_id)
        if m.queue is not None and await self.ctx.queues.get(org_id, m.queue) is None:
            return err("not_found", "no such queue")
        if m.agent_id is not None and await agent_profile(self.ctx.pool, org_id, m.agent_id) is None:
            return err("not_found", "no such agent")
        await self.ctx.router.transfer(org_id, agent_id, m.interaction_id, m.queue, m.agent_id)
        return ok()

    @event(InteractionRef)
    async def on_interaction_end(self, sid: str, m: InteractionRef) -> dict[str, Any]:
        org_id, agent_id = await self._who(sid)
        report = await self.ctx.router.end(org_id, agent_id, m.interaction_id, "agent")
        wrap_s = report["ended"][0].get("wrap_up_s", 0) if report.get("ended") else 0
        return ok(wrap_up_s=wrap_s)

    @event(WrapUp)
    async def on_interaction_wrap_up(self, sid: str, m: WrapUp) -> dict[str, Any]:
        org_id, agent_id = await self._who(sid)
        codes = {c["code"] for c in await org_codes(self.ctx, "wrap_up_codes", org_id)}
        if m.code not in codes:
            return err("invalid_wrap_up_code", "choose one of the org's wrap-up codes", sorted(codes))
        await self.ctx.router.wrap_up(org_id, agent_id, m.interaction_id, m.code, m.notes or "")
        return ok()
