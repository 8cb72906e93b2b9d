"""REST for admins (and integrations, for their own webhooks): channel configuration, queue hours,
integrator webhook subscriptions and their delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from channels import events
from channels.config import (
    SECRET_FIELDS,
    ChannelConfig,
    QueueHours,
    get_channel_config,
    get_queue_hours,
    list_channel_configs,
    upsert_channel_config,
    upsert_queue_hours,
)
from channels.model import CHANNELS, Channel
from web.context import Context, ctx_of
from web.errors import ApiError
from web.routes import ADMIN, api, body, int_query, principal

INTEGRATORS = ("admin", "integration")


class ChannelConfigIn(BaseModel):
    """Secrets sent back as "***" (as GET shows them) keep their stored value."""

    model_config = ConfigDict(extra="forbid")
    queue: str = Field(min_length=1, max_length=63)
    enabled: bool = True
    provider: dict[str, Any] = Field(default_factory=dict)
    allowed_countries: list[str] = Field(default_factory=list)
    ack_template: str | None = Field(default=None, max_length=1000)
    closed_template: str | None = Field(default=None, max_length=1000)


class ChannelConfigOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    org_id: str
    channel: str
    queue: str
    enabled: bool
    provider: dict[str, Any]


class ChannelList(BaseModel):
    items: list[ChannelConfigOut]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: HttpUrl
    events: list[str] = Field(min_length=1)
    secret: str | None = Field(default=None, min_length=16, max_length=200)


class SubscriptionOut(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    secret: str | None = None


class SubscriptionList(BaseModel):
    items: list[SubscriptionOut]


class DeliveryList(BaseModel):
    items: list[dict[str, Any]]


def _channel(request: web.Request) -> Channel:
    name = request.match_info["channel"]
    for channel in CHANNELS:
        if channel == name:
            return channel
    raise ApiError(404, "not_found", f"unknown channel {name!r}; channels: {', '.join(CHANNELS)}")


def _check_provider(config: ChannelConfig) -> None:
    try:
        if config.channel == "sms":
            config.twilio()
        elif config.channel == "email":
            config.email()
        else:
            config.meta()
    except ValueError as e:
        raise ApiError(422, "validation_error", f"provider settings for {config.channel} are incomplete", str(e)) from e


@api.route("GET", "/api/v1/channels", roles=ADMIN, response=ChannelList, tag="channels")
async def list_channels(request: web.Request) -> web.Response:
    """Every configured channel of the org, secrets masked."""
    ctx = ctx_of(request)
    configs = await list_channel_configs(ctx.pool, principal(request).org_id)
    return web.json_response({"items": [c.redacted() for c in configs]})


@api.route("GET", "/api/v1/channels/{channel}", roles=ADMIN, response=ChannelConfigOut, tag="channels")
async def get_channel(request: web.Request) -> web.Response:
    """One channel's configuration, secrets masked."""
    ctx = ctx_of(request)
    config = await get_channel_config(ctx.pool, principal(request).org_id, _channel(request))
    if config is None:
        raise ApiError(404, "channel_not_configured", "this channel is not configured")
    return web.json_response(config.redacted())


@api.route(
    "PUT", "/api/v1/channels/{channel}", roles=ADMIN, body=ChannelConfigIn, response=ChannelConfigOut, tag="channels"
)
async def put_channel(request: web.Request) -> web.Response:
    """Configure (or suspend with enabled=false) a channel: provider account, queue, allow-list, replies."""
    ctx = ctx_of(request)
    p = principal(request)
    channel = _channel(request)
    data: ChannelConfigIn = body(request)
    q = await ctx.queues.get(p.org_id, data.queue)
    if q is None:
        raise ApiError(422, "unknown_queue", f"no queue named {data.queue!r}")
    if channel not in q.channels:
        raise ApiError(422, "channel_not_accepted", f"queue {q.name!r} does not take {channel}")
    for code in data.allowed_countries:
        if len(code) != 2 or not code.isalpha():
            raise ApiError(422, "validation_error", f"{code!r} is not an ISO 3166 alpha-2 country code")
    old = await get_channel_config(ctx.pool, p.org_id, channel)
    provider = dict(data.provider)
    for key in SECRET_FIELDS:
        if provider.get(key) == "***":
            if old is None or not old.provider.get(key):
                raise ApiError(422, "validation_error", f"{key} has no stored value to keep")
            provider[key] = old.provider[key]
    config = ChannelConfig(
        org_id=p.org_id,
        channel=channel,
        queue=data.queue,
        enabled=data.enabled,
        provider=provider,
        allowed_countries=[c.upper() for c in data.allowed_countries],
        ack_template=data.ack_template,
        closed_template=data.closed_template,
    )
    _check_provider(config)
    await upsert_channel_config(ctx.pool, config)
    await _audit(ctx, p.org_id, p.subject, "channel.configured", {"channel": channel, "enabled": data.enabled})
    return web.json_response(config.redacted())


@api.route("GET", "/api/v1/queue-hours/{queue}", roles=ADMIN, tag="channels")
async def get_hours(request: web.Request) -> web.Response:
    """A queue's business hours; a queue without any is always open."""
    ctx = ctx_of(request)
    hours = await get_queue_hours(ctx.pool, principal(request).org_id, request.match_info["queue"])
    if hours is None:
        raise ApiError(404, "not_found", "this queue has no business hours (always open)")
    return web.json_response(hours.model_dump(mode="json"))


@api.route("PUT", "/api/v1/queue-hours/{queue}", roles=ADMIN, body=QueueHours, tag="channels")
async def put_hours(request: web.Request) -> web.Response:
    """Weekly hours, holidays and what a closed queue does with new messages (hold or close)."""
    ctx = ctx_of(request)
    p = principal(request)
    name = request.match_info["queue"]
    if await ctx.queues.get(p.org_id, name) is None:
        raise ApiError(404, "not_found", "no such queue")
    hours: QueueHours = body(request)
    await upsert_queue_hours(ctx.pool, p.org_id, name, hours)
    return web.json_response(hours.model_dump(mode="json"))


def _sub_out(sub: events.Subscription, secret: str | None = None) -> dict[str, Any]:
    return SubscriptionOut(
        id=str(sub.id), url=sub.url, events=sub.events, active=sub.active, created_at=sub.created_at, secret=secret
    ).model_dump(mode="json")


@api.route("GET", "/api/v1/webhook-subscriptions", roles=INTEGRATORS, response=SubscriptionList, tag="channels")
async def list_subscriptions(request: web.Request) -> web.Response:
    """Integrator endpoints registered for events (secrets are shown only at creation)."""
    ctx = ctx_of(request)
    subs = await events.list_subscriptions(ctx.pool, principal(request).org_id)
    return web.json_response({"items": [_sub_out(s) for s in subs]})


@api.route(
    "POST",
    "/api/v1/webhook-subscriptions",
    roles=INTEGRATORS,
    body=SubscriptionIn,
    response=SubscriptionOut,
    status=201,
    tag="channels",
)
async def create_subscription(request: web.Request) -> web.Response:
    """Register an endpoint for event types (or "*"); the response carries its signing secret, once."""
    ctx = ctx_of(request)
    p = principal(request)
    data: SubscriptionIn = body(request)
    try:
        sub, secret = await events.create_subscription(ctx.pool, p.org_id, str(data.url), data.events, data.secret)
    except ValueError as e:
        raise ApiError(422, "validation_error", str(e)) from e
    _refresh_events(ctx, p.org_id)
    await _audit(ctx, p.org_id, p.subject, "webhook_subscription.created", {"id": str(sub.id), "url": sub.url})
    return web.json_response(_sub_out(sub, secret), status=201)


async def _set_active(request: web.Request, active: bool) -> web.Response:
    ctx = ctx_of(request)
    p = principal(request)
    try:
        sid = uuid.UUID(request.match_info["id"])
    except ValueError as e:
        raise ApiError(404, "not_found", "no such subscription") from e
    if not await events.set_subscription_active(ctx.pool, p.org_id, sid, active):
        raise ApiError(404, "not_found", "no such subscription")
    _refresh_events(ctx, p.org_id)
    sub = next(s for s in await events.list_subscriptions(ctx.pool, p.org_id) if s.id == sid)
    return web.json_response(_sub_out(sub))


@api.route(
    "POST", "/api/v1/webhook-subscriptions/{id}/pause", roles=INTEGRATORS, response=SubscriptionOut, tag="channels"
)
async def pause_subscription(request: web.Request) -> web.Response:
    """Stop sending; deliveries still pending for it fail instead of going out."""
    return await _set_active(request, False)


@api.route(
    "POST", "/api/v1/webhook-subscriptions/{id}/resume", roles=INTEGRATORS, response=SubscriptionOut, tag="channels"
)
async def resume_subscription(request: web.Request) -> web.Response:
    """Send again, from the next event on."""
    return await _set_active(request, True)


@api.route(
    "GET",
    "/api/v1/webhook-deliveries",
    roles=INTEGRATORS,
    response=DeliveryList,
    tag="channels",
    query={"limit": "integer"},
)
async def deliveries(request: web.Request) -> web.Response:
    """The latest event deliveries, newest first: status, attempts, last HTTP status and error."""
    ctx = ctx_of(request)
    limit = int_query(request, "limit", 50, 1, 500)
    rows = await events.delivery_log(ctx.pool, principal(request).org_id, limit)
    items = [
        {
            k: (v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v)
            for k, v in r.items()
        }
        for r in rows
    ]
    return web.json_response({"items": items})


def _refresh_events(ctx: Context, org_id: str) -> None:
    publisher = ctx.extras.get("event_publisher")
    if publisher is not None:
        publisher.invalidate(org_id)


async def _audit(ctx: Context, org_id: str, actor: str, action: str, data: dict[str, Any]) -> None:
    await ctx.pool.execute(
        "INSERT INTO audit_log (org_id, actor, action, data) VALUES ($1,$2,$3,$4)", org_id, actor, action, data
    )
