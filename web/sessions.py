"""Ending a user's sessions everywhere, when an admin deactivates them or changes their password or role.

Their tokens end by a cutoff (web/revocation.py); this ends what outlives a token check: the sockets
they hold on any node (each connect records ``namespace sid`` in a Redis set of the user's), and for
an agent taken off the floor, the routing login and license seat, through the same forced logout a
supervisor uses.
"""

from __future__ import annotations

import contextlib
from typing import Any

import structlog

from switchboard import keys
from switchboard.redis_conn import REDIS_DOWN
from web.context import Context
from web.revocation import MESSAGES, Reason

log = structlog.get_logger(__name__)
__all__ = ["Reason", "disconnect_sockets", "end_sessions", "force_logout", "forget_socket", "remember_socket"]
# A socket's entry outlives any token it connected with; the set's expiry is renewed by every connect.
SOCKETS_TTL_S = 7 * 86_400


def remember_socket(pipe: Any, org_id: str, user_id: str, namespace: str, sid: str) -> None:
    """Queue on the connect handler's pipeline: where this socket of the user is."""
    key = keys.user_sockets(org_id, user_id)
    pipe.sadd(key, f"{namespace} {sid}")
    pipe.expire(key, SOCKETS_TTL_S)


async def forget_socket(redis: Any, org_id: str, user_id: str, namespace: str, sid: str) -> None:
    """On disconnect: the entry goes, so the set holds only live sockets (plus those of a dead node).
    Best effort: a stale entry is harmless (disconnecting a gone sid does nothing)."""
    with contextlib.suppress(*REDIS_DOWN):
        await redis.srem(keys.user_sockets(org_id, user_id), f"{namespace} {sid}")


async def force_logout(ctx: Context, org_id: str, agent_id: str) -> None:
    """The supervisor's forced logout: offers and conversations back to their queues, the license
    seat freed, the desktops told (and taken out of the agent's room)."""
    await ctx.router.logout(org_id, agent_id, force=True)
    if ctx.licenses is not None:
        await ctx.licenses.logout(org_id, agent_id)
    await ctx.extras["disconnect_agent"](org_id, agent_id)


async def disconnect_sockets(ctx: Context, org_id: str, user_id: str, reason: Reason) -> int:
    """Tell each socket of the user why, then disconnect it, on whichever node holds it (the Socket.IO
    manager sends both there, in order)."""
    key = keys.user_sockets(org_id, user_id)
    members = await ctx.redis.smembers(key)
    data = {"code": "session_ended", "reason": reason, "message": MESSAGES[reason]}
    for member in members:
        namespace, _, sid = member.partition(" ")
        await ctx.sio.emit("session:ended", data, to=sid, namespace=namespace)
        await ctx.sio.disconnect(sid, namespace=namespace)
    if members:
        await ctx.redis.srem(key, *members)  # not DEL: a socket connecting meanwhile keeps its entry
    return len(members)


async def end_sessions(ctx: Context, org_id: str, user_id: str, role: str, reason: Reason) -> None:
    """After the cutoff is recorded: an agent (``role`` before the change) deactivated or moved to
    another role is logged out for real; every socket of the user is disconnected. Safe to repeat."""
    if role == "agent" and reason != "password_changed":
        await force_logout(ctx, org_id, user_id)
    sockets = await disconnect_sockets(ctx, org_id, user_id, reason)
    log.info("user_sessions_ended", org_id=org_id, user_id=user_id, reason=reason, sockets=sockets)
