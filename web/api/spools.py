"""What waited in Redis for PostgreSQL, for the org's admin: the backlog, and the entries PostgreSQL
refused as data, which no tick retries by itself. An admin reads them (what was it, why), then puts
them back on the spool (after a fix) or discards them."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from channels.inbound_spool import WEBHOOKS
from routing.spool import REPORTS, SpoolKeys
from switchboard import jsonwire
from web.context import ctx_of
from web.errors import ApiError
from web.routes import ADMIN, api, principal

SPOOLS: dict[str, SpoolKeys] = {"reports": REPORTS, "webhooks": WEBHOOKS}
SHOWN = 100

# Refused entries back on the tail of the spool, in one step (an org's keys share a slot).
RETRY = r"""
local refused, spool = KEYS[1], KEYS[2]
local entries = redis.call('HVALS', refused)
for _, entry in ipairs(entries) do redis.call('RPUSH', spool, entry) end
redis.call('DEL', refused)
return #entries
"""


class RefusedEntry(BaseModel):
    id: str
    entry: Any


class SpoolState(BaseModel):
    waiting: int
    refused: int
    refused_entries: list[RefusedEntry]


class SpoolsOut(BaseModel):
    reports: SpoolState
    webhooks: SpoolState


class Moved(BaseModel):
    spool: str
    entries: int


def _spool(request: web.Request) -> str:
    name = request.match_info["spool"]
    if name not in SPOOLS:
        raise ApiError(404, "not_found", f"no spool {name!r}: one of {', '.join(SPOOLS)}")
    return name


def _parsed(raw: str) -> Any:
    try:
        return jsonwire.loads(raw)
    except ValueError:
        return raw


@api.route("GET", "/api/v1/spools", roles=ADMIN, response=SpoolsOut, tag="admin")
async def spools_show(request: web.Request) -> web.Response:
    """The org's spools: entries waiting for PostgreSQL, and those it refused (the first 100 shown)."""
    ctx = ctx_of(request)
    org_id = principal(request).org_id
    out: dict[str, Any] = {}
    for name, where in SPOOLS.items():
        refused = await ctx.redis.hgetall(where.refused(org_id))
        shown = [{"id": k, "entry": _parsed(v)} for k, v in sorted(refused.items())[:SHOWN]]
        out[name] = {"waiting": await ctx.redis.llen(where.spool(org_id)), "refused": len(refused),
                     "refused_entries": shown}
    return web.json_response(out)


@api.route("POST", "/api/v1/spools/{spool}/retry", roles=ADMIN, response=Moved, tag="admin")
async def spools_retry(request: web.Request) -> web.Response:
    """Put the refused entries back on the spool: the next reconcile tick writes them (or refuses
    them again). Replaying an entry twice writes it once."""
    ctx = ctx_of(request)
    name = _spool(request)
    where = SPOOLS[name]
    org_id = principal(request).org_id
    moved = int(await ctx.redis.register_script(RETRY)(keys=[where.refused(org_id), where.spool(org_id)]))
    if moved:
        await ctx.redis.sadd(where.orgs, org_id)
    return web.json_response({"spool": name, "entries": moved})


@api.route("DELETE", "/api/v1/spools/{spool}/refused", roles=ADMIN, response=Moved, tag="admin")
async def spools_discard(request: web.Request) -> web.Response:
    """Discard the refused entries, once a person has looked at them."""
    ctx = ctx_of(request)
    name = _spool(request)
    refused_key = SPOOLS[name].refused(principal(request).org_id)
    discarded = int(await ctx.redis.hlen(refused_key))
    await ctx.redis.delete(refused_key)
    return web.json_response({"spool": name, "entries": discarded})
