"""REST: customer profiles — search, create, read, patch, delete and merge.

Supervisors, admins and integrations manage every profile of their org; an agent may read a profile
only of a customer they serve or served (never confirming that others exist).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from customers import profiles
from web.context import ctx_of
from web.errors import ApiError
from web.routes import api, body, int_query, principal

MANAGERS = ("supervisor", "admin", "integration")
READERS = ("agent", *MANAGERS)


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["phone", "email", "whatsapp", "messenger", "webchat"]
    value: str = Field(min_length=1, max_length=320)


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=50)


class CustomerPatch(BaseModel):
    """Attributes merge key by key (null removes one); identities, when given, replace the whole set."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] | None = None
    identities: list[IdentityIn] | None = Field(default=None, max_length=50)


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_id: str = Field(min_length=1, max_length=64)


class CustomerOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str | None
    attributes: dict[str, Any]
    identities: list[dict[str, str]]


class CustomerPage(BaseModel):
    items: list[CustomerOut]


def _raise(e: profiles.ProfileError) -> ApiError:
    return ApiError(e.status, e.code, e.message, e.details)


def _ids(items: list[IdentityIn] | None) -> list[dict[str, str]] | None:
    return None if items is None else [i.model_dump() for i in items]


@api.route(
    "GET",
    "/api/v1/customers",
    roles=MANAGERS,
    response=CustomerPage,
    tag="customers",
    query={"query": "string", "limit": "integer"},
)
async def search_customers(request: web.Request) -> web.Response:
    """Profiles whose name or an identity contains ``query``; merged-away profiles are left out."""
    ctx = ctx_of(request)
    limit = int_query(request, "limit", 50, 1, 200)
    query = (request.query.get("query") or "").strip()[:200] or None
    items = await profiles.search(ctx.pool, principal(request).org_id, query, limit)
    return web.json_response({"items": items})


@api.route(
    "POST", "/api/v1/customers", roles=MANAGERS, body=CustomerCreate, response=CustomerOut, status=201, tag="customers"
)
async def create_customer(request: web.Request) -> web.Response:
    """A new profile; an identity another profile owns is a 409 ``identity_taken``."""
    ctx = ctx_of(request)
    org_id = principal(request).org_id
    data: CustomerCreate = body(request)
    try:
        cid = await profiles.create(ctx.pool, org_id, data.name, data.attributes, _ids(data.identities) or [])
    except profiles.ProfileError as e:
        raise _raise(e) from e
    return web.json_response(await profiles.get(ctx.pool, org_id, cid), status=201)


@api.route("GET", "/api/v1/customers/{id}", roles=READERS, response=CustomerOut, tag="customers")
async def get_customer(request: web.Request) -> web.Response:
    """The profile with identities, VIP flag, last agent and recent interaction history."""
    ctx = ctx_of(request)
    p = principal(request)
    cid = request.match_info["id"]
    try:
        if p.role == "agent" and not await profiles.agent_has_served(ctx.pool, p.org_id, cid, p.subject):
            raise ApiError(404, "not_found", "no such customer")
        data = await profiles.get(ctx.pool, p.org_id, cid)
    except profiles.ProfileError as e:
        raise _raise(e) from e
    if data is None:
        raise ApiError(404, "not_found", "no such customer")
    return web.json_response(data)


@api.route("PATCH", "/api/v1/customers/{id}", roles=MANAGERS, body=CustomerPatch, response=CustomerOut, tag="customers")
async def patch_customer(request: web.Request) -> web.Response:
    """Rename, set or clear attributes (e.g. ``vip``), replace identities."""
    ctx = ctx_of(request)
    org_id = principal(request).org_id
    cid = request.match_info["id"]
    data: CustomerPatch = body(request)
    try:
        found = await profiles.update(
            ctx.pool,
            org_id,
            cid,
            name=data.name,
            set_name="name" in data.model_fields_set,
            attributes=data.attributes,
            identities=_ids(data.identities),
        )
    except profiles.ProfileError as e:
        raise _raise(e) from e
    if not found:
        raise ApiError(404, "not_found", "no such customer")
    return web.json_response(await profiles.get(ctx.pool, org_id, cid))


@api.route("DELETE", "/api/v1/customers/{id}", roles=MANAGERS, status=204, tag="customers")
async def delete_customer(request: web.Request) -> web.Response:
    """Remove the profile and its identities; its interactions stay, unlinked (use erase to scrub them)."""
    ctx = ctx_of(request)
    try:
        found = await profiles.delete(ctx.pool, principal(request).org_id, request.match_info["id"])
    except profiles.ProfileError as e:
        raise _raise(e) from e
    if not found:
        raise ApiError(404, "not_found", "no such customer")
    return web.Response(status=204)


@api.route("POST", "/api/v1/customers/{id}/merge", roles=MANAGERS, body=MergeIn, response=CustomerOut, tag="customers")
async def merge_customers(request: web.Request) -> web.Response:
    """Fold profile ``from_id`` into this one: identities and interactions move; the other is marked merged."""
    ctx = ctx_of(request)
    org_id = principal(request).org_id
    cid = request.match_info["id"]
    data: MergeIn = body(request)
    try:
        await profiles.merge(ctx.pool, org_id, cid, data.from_id)
    except profiles.ProfileError as e:
        raise _raise(e) from e
    return web.json_response(await profiles.get(ctx.pool, org_id, cid))
