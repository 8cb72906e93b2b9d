"""A small route registry: each REST route declares its roles and pydantic models once.

The registry mounts the routes with authentication, role checks and body validation, and the
same declarations generate the OpenAPI 3.1 document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from web.auth import Principal
from web.context import ctx_of
from web.errors import ApiError, read_json
from web.security import bearer, principal_from_token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", Principal)
BODY = web.RequestKey("body", object)
ALL_USERS = ("agent", "supervisor", "admin")
STAFF = ("supervisor", "admin")
ADMIN = ("admin",)


@dataclass
class RouteSpec:
    method: str
    path: str
    handler: Handler
    roles: tuple[str, ...] | None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    summary: str = ""
    tag: str = "api"
    query: dict[str, str] = field(default_factory=dict)
    # What a success answers with; None means JSON, except that a `.csv` path answers CSV.
    media_type: str | None = None
    # A body the handler reads itself (e.g. a signed document kept byte for byte): documented, not validated here.
    doc_body: type[BaseModel] | None = None

    @property
    def success_media_type(self) -> str:
        if self.media_type is not None:
            return self.media_type
        return "text/csv" if self.path.endswith(".csv") else "application/json"


class Api:
    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        roles: tuple[str, ...] | None,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        summary: str = "",
        tag: str = "api",
        query: dict[str, str] | None = None,
        media_type: str | None = None,
        doc_body: type[BaseModel] | None = None,
    ) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.specs.append(RouteSpec(method, path, fn, roles, body, response, status,
                                        summary or (fn.__doc__ or "").strip(), tag, query or {}, media_type, doc_body))
            return fn

        return deco

    def mount(self, app: web.Application) -> None:
        for spec in self.specs:
            app.router.add_route(spec.method, spec.path, _guard(spec))


def _guard(spec: RouteSpec) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if spec.roles is not None:
            ctx = ctx_of(request)
            p = await principal_from_token(
                bearer(request.headers.get("Authorization")),
                secret=ctx.settings.secret_key, pool=ctx.pool, redis=ctx.redis,
            )
            if p.role not in spec.roles:
                raise ApiError(403, "forbidden", f"this route is for: {', '.join(spec.roles)}")
            request[PRINCIPAL] = p
        if spec.body is not None:
            request[BODY] = spec.body.model_validate(await read_json(request))
        return await spec.handler(request)

    handler.__name__ = spec.handler.__name__
    return handler


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def body(request: web.Request) -> Any:
    return request[BODY]


def int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError as e:
        raise ApiError(422, "validation_error", f"query parameter {name!r} must be an integer") from e
    if not lo <= v <= hi:
        raise ApiError(422, "validation_error", f"query parameter {name!r} must be between {lo} and {hi}")
    return v


api = Api()
