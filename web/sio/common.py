"""What every namespace does the same way: authenticate on connect, validate and ack every event."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import socketio
import structlog
from pydantic import BaseModel, ValidationError
from socketio.exceptions import ConnectionRefusedError

from routing.router import RoutingError
from switchboard.db import PG_DOWN
from switchboard.redis_conn import REDIS_DOWN
from web.auth import Principal
from web.context import Context
from web.errors import ApiError, validation_details
from web.security import principal_from_token

log = structlog.get_logger(__name__)
MAX_EVENT_BYTES = 64 * 1024


def ok(**data: Any) -> dict[str, Any]:
    return {"ok": True, **data}


def err(code: str, message: str, details: Any = None) -> dict[str, Any]:
    e: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        e["details"] = details
    return {"ok": False, "error": e}


def refuse(code: str, message: str, details: Any = None) -> ConnectionRefusedError:
    """A refused connect: clients get ``connect_error`` with message and data ``{code, message}``
    (and ``details`` when there are some, as in REST errors)."""
    data: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        data["details"] = details
    return ConnectionRefusedError(message, data)


async def authenticate(ctx: Context, auth: Any, roles: tuple[str, ...]) -> Principal:
    token = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(token, str):
        raise refuse("unauthorized", "send auth {token}")
    try:
        p = await principal_from_token(token, secret=ctx.settings.secret_key, pool=ctx.pool, redis=ctx.redis)
    except ApiError as e:
        raise refuse("unauthorized", e.message, e.details) from e
    if p.role not in roles:
        raise refuse("forbidden", f"this namespace is for: {', '.join(roles)}")
    return p


Event = Callable[..., Awaitable[dict[str, Any]]]


def event(model: type[BaseModel] | None) -> Callable[[Event], Callable[..., Awaitable[dict[str, Any]]]]:
    """Validate the payload, turn every failure into an error ack; a handler bug never drops the socket."""

    def deco(fn: Event) -> Callable[..., Awaitable[dict[str, Any]]]:
        @functools.wraps(fn)
        async def wrapper(self: Any, sid: str, data: Any = None, *extra: Any) -> dict[str, Any]:
            structlog.contextvars.bind_contextvars(sid=sid, socket_event=fn.__name__.removeprefix("on_"))
            if isinstance(data, dict) and isinstance(data.get("interaction_id"), str):
                structlog.contextvars.bind_contextvars(interaction_id=data["interaction_id"])
            try:
                if model is not None:
                    if len(repr(data)) > MAX_EVENT_BYTES:
                        return err("payload_too_large", f"event payloads are limited to {MAX_EVENT_BYTES} bytes")
                    payload = model.model_validate(data if data is not None else {})
                    return await fn(self, sid, payload)
                return await fn(self, sid)
            except ValidationError as e:
                return err("validation_error", "event payload did not validate", validation_details(e))
            except RoutingError as e:
                return err(e.code, e.message)
            except ApiError as e:
                return err(e.code, e.message, e.details)
            except asyncpg.DataError as e:
                # e.g. a NUL character, which PostgreSQL text cannot hold: the input's fault (as REST's 400)
                return err("invalid_input", f"the input cannot be stored: {e.__class__.__name__}")
            except REDIS_DOWN:  # as REST answers 503: a store is down for now, not a bug to log as one
                log.warning("socket_event_unavailable", handler=fn.__name__, store="redis")
                return err("service_unavailable", "live state is unreachable; retry shortly")
            except PG_DOWN:
                log.warning("socket_event_unavailable", handler=fn.__name__, store="postgresql")
                return err("service_unavailable", "the database is unreachable; retry shortly")
            except Exception:
                log.exception("socket_event_failed", handler=fn.__name__, sid=sid)
                return err("internal_error", "the event failed; it has been logged")

        return wrapper

    return deco


LIFECYCLE = ("connect", "disconnect")


class GuardedNamespace(socketio.AsyncNamespace):
    """Unknown events get an error ack instead of silence, and a client cannot fire the lifecycle handlers.

    A connect that meets Redis or PostgreSQL down is refused with ``service_unavailable`` (python-socketio
    would otherwise log the error and leave the client waiting for an answer).

    python-socketio dispatches a client event *named* ``disconnect`` (or ``connect``) to ``on_disconnect``
    like the real thing, which would drop an agent's socket count while the socket stays open. The real
    ones run while the manager holds the sid as pending, so a sid that is fully connected means forged.
    """

    async def trigger_event(self, event_name: str, *args: Any) -> Any:
        if event_name in LIFECYCLE:
            sid = args[0] if args else None
            if sid is not None and self.server.manager.is_connected(sid, self.namespace):
                return err("unknown_event", f"{event_name} is not an event clients may send")
            if event_name == "connect":
                return await self._connect_or_refuse(*args)
            return await super().trigger_event(event_name, *args)
        name = event_name.replace(":", "_")
        if getattr(self, "on_" + name, None) is None:
            return err("unknown_event", f"no such event: {event_name}")
        return await super().trigger_event(name, *args)

    async def _connect_or_refuse(self, *args: Any) -> Any:
        try:
            return await super().trigger_event("connect", *args)
        except REDIS_DOWN as e:
            raise refuse("service_unavailable", "live state is unreachable; retry shortly") from e
        except PG_DOWN as e:
            raise refuse("service_unavailable", "the database is unreachable; retry shortly") from e
