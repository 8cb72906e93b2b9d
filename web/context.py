"""What request handlers and socket namespaces share: one object per process, stored on the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import redis.asyncio as aioredis
import socketio
from aiohttp import web

from queues.config import QueueCache
from routing.router import Router
from switchboard.clock import Clock
from switchboard.settings import Settings

if TYPE_CHECKING:
    from licensing.service import LicenseService


@dataclass
class Context:
    settings: Settings
    clock: Clock
    pool: asyncpg.Pool
    redis: aioredis.Redis
    router: Router
    queues: QueueCache
    sio: socketio.AsyncServer
    node_id: str
    licenses: LicenseService | None = None
    extras: dict[str, Any] = field(default_factory=dict)


CTX = web.AppKey("ctx", Context)


def ctx_of(request: web.Request) -> Context:
    return request.app[CTX]
