"""The aiohttp application: REST, Socket.IO namespaces, pages, health and metrics, background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import socketio
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from agents import presence
from agents.store import agent_profile
from channels.inbound_spool import InboundSpool
from channels.settings_copy import ChannelSettingsCopy
from queues.config import QueueCache
from routing.metrics import SPOOL_WAITING
from routing.reconciler import reconcile_all, reconcile_org
from routing.router import Router
from routing.spool import waiting as spool_waiting
from routing.timers import TimerPoller, stop_task
from switchboard import jsonwire, keys, redis_conn
from switchboard.clock import Clock, SystemClock
from switchboard.db import PG_DOWN, create_pool
from switchboard.settings import Settings
from web import openapi
from web.api import load_modules
from web.api.spools import SPOOLS
from web.api.webhooks import replay_spooled as replay_spooled_webhooks
from web.context import CTX, Context
from web.conversations import Conversations
from web.errors import error_middleware, error_response
from web.routes import api
from web.sio.agent import AgentNamespace
from web.sio.customer import CustomerNamespace
from web.sio.delivery import Delivery
from web.sio.rooms import agent_room
from web.sio.server import SocketServer
from web.sio.supervisor import SupervisorNamespace, stats_for

log = structlog.get_logger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
OPENAPI = web.AppKey("openapi", dict)
HTTP_REQUESTS = Counter("switchboard_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_SECONDS = Histogram("switchboard_http_request_seconds", "HTTP request time", ["route"])

SECURE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:;"
    " style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}


@web.middleware
async def observe_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    rid = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=rid)
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    t0 = time.perf_counter()
    resp = await handler(request)
    HTTP_SECONDS.labels(route).observe(time.perf_counter() - t0)
    HTTP_REQUESTS.labels(request.method, route, str(resp.status)).inc()
    resp.headers["X-Request-Id"] = rid
    if not route.startswith("/chat"):
        for k, v in SECURE_HEADERS.items():
            resp.headers.setdefault(k, v)
    return resp


STORE_DOWN = (*PG_DOWN, *redis_conn.REDIS_DOWN)


@web.middleware
async def unavailable_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """PostgreSQL or Redis unreachable: 503 with Retry-After, never a 2xx for data not stored;
    input PostgreSQL refuses to store (a NUL character, an out-of-range number): 400."""
    try:
        return await handler(request)
    except asyncpg.DataError as e:
        # e.g. a NUL character, which PostgreSQL text cannot hold: the input's fault, not ours
        return error_response(400, "invalid_input", f"the input cannot be stored: {e.__class__.__name__}")
    except STORE_DOWN as e:
        log.warning("store_unavailable", path=request.path, error=repr(e))
        return error_response(
            503, "service_unavailable", "a data store is unreachable; retry shortly", headers={"Retry-After": "2"}
        )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready while at least one store answers; the body says which are down.

    One store down is an outage every node shares, and the app serves through it: while Redis is
    down, reads, login, intake and webhooks work from PostgreSQL; while PostgreSQL is down, routing
    and conversations go on in Redis (their reports spooled). Answering 503 then would have the
    load balancer drop every node at once and turn a degraded service into none. With neither store
    this node can serve nothing, so it steps out of rotation."""
    ctx = request.app[CTX]
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(ctx.redis.ping(), 2)
        checks["redis"] = "ok"
    except Exception as e:
        checks["redis"] = f"down: {type(e).__name__}"
    try:
        await asyncio.wait_for(ctx.pool.fetchval("SELECT 1"), 2)
        checks["postgres"] = "ok"
    except Exception as e:
        checks["postgres"] = f"down: {type(e).__name__}"
    up = [name for name, v in checks.items() if v == "ok"]
    status = "ready" if len(up) == len(checks) else "degraded" if up else "not_ready"
    return web.json_response({"status": status, "checks": checks}, status=200 if up else 503)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def page(name: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        path = STATIC / name
        if not path.exists():
            return error_response(404, "not_found", "page not built")
        return web.FileResponse(path)

    return handler


def create_app(settings: Settings, clock: Clock | None = None, *, background: bool = True) -> web.Application:
    clock = clock or SystemClock()
    node_id = settings.node_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    mgr = socketio.AsyncRedisManager(settings.redis_url) if settings.socketio_redis else None
    sio = SocketServer(
        async_mode="aiohttp",
        client_manager=mgr,
        cors_allowed_origins=[],
        max_http_buffer_size=1_000_000,
        json=jsonwire,
    )
    api_modules = load_modules()
    app = web.Application(
        middlewares=[observe_middleware, error_middleware, unavailable_middleware],
        client_max_size=settings.max_body_bytes,
    )
    sio.attach(app)
    api.mount(app)
    app[OPENAPI] = openapi.build(api)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi_json)
    for route, name in (
        ("/", "index.html"),
        ("/agent", "agent.html"),
        ("/supervisor", "supervisor.html"),
        ("/admin", "admin.html"),
        ("/reports", "reports.html"),
        ("/chat/{org}", "chat.html"),
    ):
        app.router.add_get(route, page(name))
    if STATIC.exists():
        app.router.add_static("/static/", STATIC)
    vendor = Path(__file__).resolve().parent / "node_modules"
    if vendor.exists():
        app.router.add_static("/vendor/", vendor)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(
            settings.database_url, settings.db_pool_min, settings.db_pool_max, settings.db_connect_timeout_s
        )
        redis = redis_conn.connect(settings.redis_url, cluster=settings.redis_cluster)
        if settings.redis_cluster:
            try:  # learn the slot map now: the node inbox subscribes before any command runs
                await redis.initialize()
            except Exception as e:
                log.warning("redis_cluster_initialize_failed", error=repr(e))
        queues = QueueCache(pool, redis)
        router = Router(redis, pool, clock, queues)
        ctx = Context(
            settings=settings,
            clock=clock,
            pool=pool,
            redis=redis,
            router=router,
            queues=queues,
            sio=sio,
            node_id=node_id,
        )
        app[CTX] = ctx
        ctx.licenses = _license_service(settings, pool, redis, clock)
        delivery = Delivery(sio, redis, node_id, clock)
        router.notifier = delivery
        delivery.queue_stats = lambda org, names: stats_for(ctx, org, names)
        conversations = Conversations(ctx, delivery)
        ctx.extras.update(conversations=conversations, delivery=delivery)
        wire_agent_admin(ctx, sio)
        sio.register_namespace(AgentNamespace(ctx, delivery))
        sio.register_namespace(SupervisorNamespace(ctx))
        sio.register_namespace(CustomerNamespace(ctx, conversations))
        delivery.start()
        poller = TimerPoller(
            redis,
            router,
            clock,
            settings.timer_poll_ms / 1000,
            idle_s=settings.active_org_idle_s,
            probation_s=settings.active_org_probation_s,
        )
        poller.handlers["grace"] = lambda org, parts, member: seat_grace(ctx, org, parts[0], member)
        ctx.extras["poller"] = poller
        tasks: list[asyncio.Task[None]] = []
        for module in api_modules:
            start = getattr(module, "on_startup", None)
            if start is not None:
                tasks.extend(await start(ctx, background) or [])
        if background:
            try:
                counts = await reconcile_all(pool, redis, router, queues)
                log.info("startup_reconcile", **counts)
            except Exception:
                log.exception("startup_reconcile_failed")
            tasks.append(asyncio.create_task(poller.run()))
            tasks.append(asyncio.create_task(periodic_reconcile(ctx)))
        log.info("switchboard_started", node_id=node_id, port=settings.port)
        yield
        for t in tasks:
            await stop_task(t)
        await delivery.stop()
        await router.close()
        if ctx.licenses is not None:
            await ctx.licenses.close()
        if mgr is not None:
            await _close_manager(mgr)
        await redis.aclose()
        await pool.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def _license_service(settings: Settings, pool: Any, redis: Any, clock: Clock) -> Any:
    from licensing.service import LicenseService

    try:
        public = settings.license_public_key_file.read_bytes()
    except OSError:
        log.warning("no_license_public_key", path=str(settings.license_public_key_file))
        return None
    return LicenseService(pool, redis, public, clock)


async def seat_grace(ctx: Context, org_id: str, agent_id: str, member: str) -> None:
    """No socket for the whole grace period: log the agent out and free the seat."""
    if await ctx.extras["delivery"].live_sockets(org_id, agent_id) == 0:
        await ctx.router.logout(org_id, agent_id, force=True)
        if ctx.licenses is not None:
            await ctx.licenses.logout(org_id, agent_id)
        log.info("agent_grace_expired", agent_id=agent_id, org_id=org_id)
    await ctx.redis.zrem(keys.timers(org_id), member)


async def periodic_reconcile(ctx: Context) -> None:
    """Every few seconds: what waited for PostgreSQL is written (``catch_up``), agents whose sockets
    all died with their node start their grace; every reconcile interval (one process at a time):
    PostgreSQL-open interactions missing from Redis are queued again."""
    delivery: Delivery = ctx.extras["delivery"]
    every = ctx.settings.reconcile_interval_s
    tick = min(5.0, every)
    last = time.monotonic()
    while True:
        await asyncio.sleep(tick)
        try:
            for org_id in list(ctx.router.unplaced):  # stored while Redis was down: queue them now
                await reconcile_org(ctx.pool, ctx.redis, ctx.router, ctx.queues, org_id)
                ctx.router.unplaced.discard(org_id)
            try:  # while PostgreSQL is still down, the Redis-only work below goes on
                await catch_up(ctx)
            except PG_DOWN as e:
                log.info("report_spool_waiting", error=repr(e))
            if await ctx.redis.set(keys.reconcile_lock() + ":orphans", ctx.node_id, nx=True, px=int(tick * 800)):
                await orphan_sweep(ctx, delivery)
            due = time.monotonic() - last >= every
            if due and await ctx.redis.set(keys.reconcile_lock(), ctx.node_id, nx=True, px=int(every * 800)):
                last = time.monotonic()
                await reconcile_all(ctx.pool, ctx.redis, ctx.router, ctx.queues)
                if ctx.licenses is not None:
                    for r in await ctx.pool.fetch("SELECT id FROM orgs"):
                        await ctx.licenses.record_peaks(r["id"])
        except Exception as e:
            log.warning("periodic_reconcile_failed", error=repr(e))


async def catch_up(ctx: Context) -> None:
    """The spools' backlog for the gauge, then what they hold written: routing reports and messages
    first, then channel webhooks (with the channel settings copy, which every tick brings up to date
    for verifying webhooks should PostgreSQL go down)."""
    for name, where in SPOOLS.items():
        SPOOL_WAITING.labels(name).set(await spool_waiting(ctx.redis, where))
    for org_id in await ctx.router.recorder.spool.spooled_orgs():
        await ctx.router.recorder.replay_spooled(org_id)
    settings_copy: ChannelSettingsCopy | None = ctx.extras.get("channel_settings")
    inbound: InboundSpool | None = ctx.extras.get("inbound_spool")
    if settings_copy is None or inbound is None:  # an app without the channels wired
        return
    await settings_copy.refresh(ctx.pool)
    for org_id in await inbound.spooled_orgs():
        await replay_spooled_webhooks(ctx, org_id)


async def orphan_sweep(ctx: Context, delivery: Delivery) -> None:
    """Logged-in agents with no socket on any live node and no grace timer get one. Every org with an
    agent online is in the active-org set (it is never idle), and their online sets are read in one
    pipeline."""
    now_ms = int((ctx.clock.now() + ctx.settings.seat_grace_s) * 1000)
    orgs = sorted(await ctx.redis.smembers(keys.active_orgs()))
    if not orgs:
        return
    pipe = ctx.redis.pipeline(transaction=False)
    for org_id in orgs:
        pipe.smembers(keys.agents_online(org_id))
    for org_id, online in zip(orgs, await pipe.execute(), strict=True):
        for agent_id in online:
            if await delivery.live_sockets(org_id, agent_id) == 0:
                await ctx.redis.zadd(keys.timers(org_id), {f"grace|{agent_id}": now_ms}, nx=True)


def wire_agent_admin(ctx: Context, sio: socketio.AsyncServer) -> None:
    """Admin changes reach logged-in agents without a restart."""

    async def refresh_agent(org_id: str, agent_id: str) -> None:
        live = await ctx.router.agent_live(org_id, agent_id)
        if live is None or live["state"] == "logged_out":
            return
        profile = await agent_profile(ctx.pool, org_id, agent_id)
        if profile is None:
            await ctx.router.logout(org_id, agent_id, force=True)
            return
        await presence.login(ctx.router, profile, await ctx.queues.queues(org_id))

    async def refresh_org_agents(org_id: str) -> None:
        for agent_id in await ctx.redis.smembers(keys.agents_online(org_id)):
            await refresh_agent(org_id, agent_id)

    async def disconnect_agent(org_id: str, agent_id: str) -> None:
        await sio.emit(
            "agent:state",
            {"state": "logged_out", "idle_code": None, "load": {}},
            room=agent_room(org_id, agent_id),
            namespace="/agent",
        )
        await sio.close_room(agent_room(org_id, agent_id), namespace="/agent")

    ctx.extras.update(
        refresh_agent=refresh_agent, refresh_org_agents=refresh_org_agents, disconnect_agent=disconnect_agent
    )


async def _close_manager(mgr: socketio.AsyncRedisManager) -> None:
    """AsyncRedisManager has no close(): cancel its listener and close its connections by hand."""
    task = getattr(mgr, "thread", None)
    if isinstance(task, asyncio.Task):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for attr in ("pubsub", "redis"):
        obj = getattr(mgr, attr, None)
        if obj is not None:
            with contextlib.suppress(Exception):
                await obj.aclose()
