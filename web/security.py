"""Who is calling: bearer tokens for users, API keys for integrations, and rate limits."""

from __future__ import annotations

import time

import asyncpg
import redis.asyncio as aioredis
import structlog

from switchboard import keys
from switchboard.redis_conn import REDIS_DOWN
from web.auth import Principal, TokenError, api_key_hash, decode_token, looks_like_jwt
from web.errors import ApiError
from web.revocation import MESSAGES, revocations_for

log = structlog.get_logger(__name__)
_KEY_CACHE: dict[str, tuple[float, Principal | None]] = {}
_KEY_CACHE_S = 10.0


async def principal_from_token(
    token: str, *, secret: str, pool: asyncpg.Pool, redis: aioredis.Redis
) -> Principal:
    """Raises ApiError 401 for anything that is not a valid, unrevoked credential: a token logged out,
    or issued before its user's cutoff (deactivated, password or role changed). Checked in Redis with
    one script, or in PostgreSQL while Redis is down (web/revocation.py)."""
    if not token:
        raise ApiError(401, "unauthorized", "missing credentials: send Authorization: Bearer <token or api key>")
    if looks_like_jwt(token):
        try:
            p = decode_token(secret, token)
        except TokenError as e:
            raise ApiError(401, "unauthorized", str(e)) from e
        issued_at = p.issued_at if p.issued_at is not None else 0.0
        revocations = revocations_for(pool, redis)
        if await revocations.is_revoked(p.token_id or "", p.subject, issued_at):
            why = await revocations.why(p.token_id or "", p.subject, p.role)
            details = {"reason": why, "advice": MESSAGES[why]} if why else None
            raise ApiError(401, "unauthorized", "token revoked", details)
        return p
    h = api_key_hash(token)
    cached = _KEY_CACHE.get(h)
    if cached and cached[0] > time.monotonic():
        found = cached[1]
    else:
        row = await pool.fetchrow("SELECT id, org_id FROM api_keys WHERE key_hash=$1 AND revoked_at IS NULL", h)
        found = Principal(row["org_id"], "integration", str(row["id"])) if row else None
        _KEY_CACHE[h] = (time.monotonic() + _KEY_CACHE_S, found)
    if found is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    return found


def forget_api_key(key_hash: str) -> None:
    _KEY_CACHE.pop(key_hash, None)


def bearer(header: str | None) -> str:
    if not header:
        return ""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


# ARGV: window_s — INCR and set the expiry in one round trip (a counter never outlives its window).
RATE_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]) + 1) end
return n
"""


async def check_rate(redis: aioredis.Redis, org_id: str, subject: str, limit: int, window_s: int) -> None:
    """Fixed-window counter in Redis, shared by every process: 429 with Retry-After past the limit."""
    now = int(time.time())
    window = now - now % window_s
    try:
        count = await redis.register_script(RATE_SCRIPT)(keys=[keys.rate(org_id, subject, window)], args=[window_s])
    except REDIS_DOWN as e:
        # Fail open: while Redis is down, intake still stores what customers send (PostgreSQL
        # first, queued by the reconciler once Redis is back); a limit is not worth losing it.
        log.warning("rate_limit_unchecked_redis_down", org_id=org_id, error=repr(e))
        return
    if int(count) > limit:
        retry = window + window_s - now
        raise ApiError(429, "rate_limited", "too many requests", {"limit": limit, "window_s": window_s},
                       headers={"Retry-After": str(max(1, retry))})
