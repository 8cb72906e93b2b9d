"""Provider webhooks: Twilio SMS, WhatsApp Cloud API, Messenger and the email relay.

No bearer token here: each request is authenticated by the provider's signature over the raw body,
checked with the org's channel secret before anything is parsed into the database. The order is
org → channel (configured, not suspended) → content type and size → signature → parse → store.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web

from channels import email, meta, twilio, wiring
from channels.config import ChannelConfig, get_channel_config, webhook_secret
from channels.inbound import InboundDeps, InboundOutcome, accept_message
from channels.inbound_spool import InboundSpool
from channels.model import StatusUpdate, WebhookBatch, WebhookError
from channels.receipts import apply_status
from channels.settings_copy import ChannelSettingsCopy
from switchboard.db import PG_DOWN
from switchboard.redis_conn import REDIS_DOWN
from web.api.interactions import live_position
from web.context import Context, ctx_of
from web.errors import ApiError
from web.routes import api

log = structlog.get_logger(__name__)
# Providers send a few KB; anything much larger is not one of theirs.
MAX_WEBHOOK_BYTES = 128 * 1024
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# The answer to a webhook kept in the inbound spool: accepted, processed once PostgreSQL is back.
SPOOLED = {"messages": [], "statuses_applied": 0, "spooled": True}


def public_url(request: web.Request) -> str:
    """The URL the provider called (and signed), as seen in front of any TLS-terminating proxy."""
    proto = (request.headers.get("X-Forwarded-Proto") or request.scheme).split(",")[0].strip()
    host = (request.headers.get("X-Forwarded-Host") or request.host).split(",")[0].strip()
    return f"{proto}://{host}{request.raw_path}"


async def channel_config(ctx: Context, org_id: str, channel: str) -> ChannelConfig:
    """The channel's settings from PostgreSQL; while it is down, this process's copy of them
    (channels/settings_copy.py), so a webhook can still be verified and then spooled."""
    copy: ChannelSettingsCopy = ctx.extras["channel_settings"]
    try:
        if await ctx.pool.fetchval("SELECT 1 FROM orgs WHERE id=$1", org_id) is None:
            raise ApiError(404, "unknown_org", f"no organisation {org_id!r}")
        config = await get_channel_config(ctx.pool, org_id, channel)
    except PG_DOWN:
        known = copy.get(org_id, channel)
        if known is None:
            raise
        config = known
    except ApiError:
        copy.forget(org_id, channel)
        raise
    if config is None:
        copy.forget(org_id, channel)
        raise ApiError(404, "channel_not_configured", f"{channel} is not configured for this organisation")
    copy.remember(config)
    if not config.enabled:
        raise ApiError(403, "channel_suspended", f"the {channel} channel is suspended by an administrator")
    return config


async def raw_body(request: web.Request, content_type: str) -> bytes:
    if request.content_type != content_type:
        raise ApiError(415, "unsupported_media_type", f"send the body as {content_type}")
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
        raise ApiError(413, "payload_too_large", f"webhook bodies are limited to {MAX_WEBHOOK_BYTES} bytes")
    body = await request.read()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise ApiError(413, "payload_too_large", f"webhook bodies are limited to {MAX_WEBHOOK_BYTES} bytes")
    if not body:
        raise ApiError(400, "malformed_payload", "the request body is empty")
    return body


def refuse(e: WebhookError) -> ApiError:
    return ApiError(e.status, e.code, e.message)


def inbound_deps(ctx: Context) -> InboundDeps:
    async def position(org_id: str, queue: str, iid: str) -> tuple[int | None, int | None]:
        return await live_position(ctx, org_id, queue, iid)

    return InboundDeps(
        pool=ctx.pool,
        redis=ctx.redis,
        router=ctx.router,
        queues=ctx.queues,
        clock=ctx.clock,
        customer_said=ctx.extras["conversations"].customer_said,
        position=position,
    )


async def apply_statuses(ctx: Context, org_id: str, statuses: list[StatusUpdate]) -> int:
    """Receipts move messages forward; the agent holding each conversation sees the new status."""
    changed = 0
    for update in statuses:
        n = await apply_status(ctx.pool, org_id, update)
        changed += n
        if n and update.provider_message_id is not None:
            ids = [
                r["id"]
                for r in await ctx.pool.fetch(
                    "SELECT id FROM messages WHERE org_id=$1 AND provider_id=$2", org_id, update.provider_message_id
                )
            ]
            try:
                await ctx.extras["message_status"](org_id, ids)
            except REDIS_DOWN as e:  # stored; the agent sees the status when the conversation is next read
                log.warning("message_status_not_pushed_redis_down", org_id=org_id, error=repr(e))
    return changed


async def process(
    ctx: Context,
    config: ChannelConfig,
    batch: WebhookBatch,
) -> tuple[list[InboundOutcome | WebhookError], int]:
    """Store every message of a verified batch (each on its own) and apply its receipts."""
    deps = inbound_deps(ctx)
    outcomes: list[InboundOutcome | WebhookError] = []
    for msg in batch.messages:
        try:
            outcomes.append(await accept_message(deps, config, msg))
        except WebhookError as e:
            outcomes.append(e)
    changed = await apply_statuses(ctx, config.org_id, batch.statuses) if batch.statuses else 0
    return outcomes, changed


async def process_or_spool(
    ctx: Context, config: ChannelConfig, batch: WebhookBatch
) -> tuple[list[InboundOutcome | WebhookError], int] | None:
    """``process``, or None when PostgreSQL is down and the verified batch was kept in the inbound
    spool instead (processed by a reconcile tick once it is back). Refused as before (503, and the
    provider may retry) when Redis cannot keep it either."""
    try:
        return await process(ctx, config, batch)
    except PG_DOWN as e:
        spool: InboundSpool = ctx.extras["inbound_spool"]
        try:
            kept = await spool.push(config.org_id, config.channel, batch)
        except REDIS_DOWN:
            raise e from None
        if not kept:
            raise
        log.warning("webhook_spooled_postgres_down", org_id=config.org_id, channel=config.channel,
                    messages=len(batch.messages), statuses=len(batch.statuses), error=repr(e))
        return None


async def replay_spooled(ctx: Context, org_id: str) -> int:
    """Process the org's webhooks kept while PostgreSQL was down, with the channel's current settings."""

    async def handle(channel: str, batch: WebhookBatch) -> None:
        await process(ctx, await channel_config(ctx, org_id, channel), batch)

    spool: InboundSpool = ctx.extras["inbound_spool"]
    return await spool.drain(org_id, handle)


def single_outcome(outcomes: list[InboundOutcome | WebhookError]) -> InboundOutcome | None:
    """One-message providers (Twilio, the email relay) get the message's own refusal as the answer."""
    accepted: InboundOutcome | None = None
    for o in outcomes:
        if isinstance(o, WebhookError):
            raise refuse(o)
        accepted = accepted or o
    return accepted


def summary(outcomes: list[InboundOutcome | WebhookError], statuses: int) -> dict[str, Any]:
    return {
        "messages": [
            {"error": {"code": o.code, "message": o.message}}
            if isinstance(o, WebhookError)
            else {"action": o.action, "interaction_id": o.interaction_id}
            for o in outcomes
        ],
        "statuses_applied": statuses,
    }


def retry_if_transient(outcomes: list[InboundOutcome | WebhookError]) -> None:
    """A message we could not take for a reason of ours (5xx) makes the provider retry the batch;
    the ones already stored are deduplicated on the retry."""
    for o in outcomes:
        if isinstance(o, WebhookError) and o.status >= 500:
            raise refuse(o)


@api.route("POST", "/webhooks/sms/{org}", roles=None, tag="webhooks")
async def sms(request: web.Request) -> web.Response:
    """Twilio inbound SMS (and MessageStatus callbacks sent to the same URL), X-Twilio-Signature."""
    return await _twilio(request)


@api.route("POST", "/webhooks/sms/{org}/status", roles=None, tag="webhooks")
async def sms_status(request: web.Request) -> web.Response:
    """Twilio MessageStatus callbacks (the StatusCallback URL of outbound messages)."""
    return await _twilio(request)


async def _twilio(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    config = await channel_config(ctx, request.match_info["org"], "sms")
    raw = await raw_body(request, FORM)
    try:
        tw = config.twilio()
        batch = twilio.read_webhook(
            raw, request.headers, public_url(request), tw.auth_token, ctx.clock.now(), tw.default_region
        )
    except WebhookError as e:
        raise refuse(e) from e
    except ValueError as e:
        raise ApiError(503, "channel_misconfigured", f"sms provider settings are incomplete: {e}") from e
    result = await process_or_spool(ctx, config, batch)
    if result is not None:
        single_outcome(result[0])
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


async def _meta(request: web.Request, channel: str) -> web.Response:
    ctx = ctx_of(request)
    config = await channel_config(ctx, request.match_info["org"], channel)
    try:
        settings = config.meta()
    except ValueError as e:
        raise ApiError(503, "channel_misconfigured", f"{channel} provider settings are incomplete: {e}") from e
    if request.method == "GET":
        try:
            challenge = meta.verify_handshake(request.query, settings.verify_token)
        except WebhookError as e:
            raise refuse(e) from e
        return web.Response(text=challenge, content_type="text/plain")
    raw = await raw_body(request, JSON)
    read = meta.read_whatsapp_webhook if channel == "whatsapp" else meta.read_messenger_webhook
    try:
        batch = read(raw, request.headers, webhook_secret(config))
    except WebhookError as e:
        raise refuse(e) from e
    result = await process_or_spool(ctx, config, batch)
    if result is None:
        return web.json_response(SPOOLED)
    outcomes, changed = result
    retry_if_transient(outcomes)
    # Meta retries a whole batch on anything but 200, so per-message refusals are reported in the body.
    return web.json_response(summary(outcomes, changed))


@api.route("GET", "/webhooks/whatsapp/{org}", roles=None, tag="webhooks")
@api.route("POST", "/webhooks/whatsapp/{org}", roles=None, tag="webhooks")
async def whatsapp(request: web.Request) -> web.Response:
    """WhatsApp Cloud API: GET subscription handshake; POST messages and statuses (X-Hub-Signature-256)."""
    return await _meta(request, "whatsapp")


@api.route("GET", "/webhooks/messenger/{org}", roles=None, tag="webhooks")
@api.route("POST", "/webhooks/messenger/{org}", roles=None, tag="webhooks")
async def messenger(request: web.Request) -> web.Response:
    """Messenger Platform: GET subscription handshake; POST messages, deliveries and reads."""
    return await _meta(request, "messenger")


@api.route("POST", "/webhooks/email/{org}", roles=None, tag="webhooks")
async def email_inbound(request: web.Request) -> web.Response:
    """Inbound-parse relay JSON, signed with HMAC-SHA256 over "<timestamp>.<body>"."""
    ctx = ctx_of(request)
    config = await channel_config(ctx, request.match_info["org"], "email")
    raw = await raw_body(request, JSON)
    try:
        batch = email.read_webhook(raw, request.headers, webhook_secret(config), ctx.clock.now())
    except WebhookError as e:
        raise refuse(e) from e
    except ValueError as e:
        raise ApiError(503, "channel_misconfigured", f"email provider settings are incomplete: {e}") from e
    result = await process_or_spool(ctx, config, batch)
    if result is None:
        return web.json_response(SPOOLED)
    outcome = single_outcome(result[0])
    return web.json_response(summary([outcome] if outcome else [], result[1]))


async def on_startup(ctx: Context, background: bool) -> list[asyncio.Task[None]]:
    return await wiring.start(ctx, background)
