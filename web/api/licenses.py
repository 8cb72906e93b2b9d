"""REST, admin only: upload a signed license, list licenses, usage per measurement period."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from licensing.documents import LicenseError
from web.context import ctx_of
from web.errors import ApiError
from web.routes import api, principal


class ItemList(BaseModel):
    items: list[dict[str, Any]]


class SignedLicenseDocument(BaseModel):
    """The vendor's signed document as issued: ``{"license": {...}, "signature": "<base64>"}``."""

    license: dict[str, Any]
    signature: str


class Usage(BaseModel):
    org_id: str
    period: str | None = None
    licenses: list[dict[str, Any]]
    refusals: dict[str, int]
    warning: str | None = None


def _service(request: web.Request) -> Any:
    svc = ctx_of(request).licenses
    if svc is None:
        raise ApiError(503, "licensing_unavailable", "licensing is not configured")
    return svc


@api.route("POST", "/api/v1/licenses", roles=("admin",), doc_body=SignedLicenseDocument, response=ItemList, status=201,
           tag="licensing")
async def upload(request: web.Request) -> web.Response:
    """Upload a vendor-signed license document (the JSON as issued)."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "invalid_json", "send the signed license document as the body")
    try:
        text = raw.decode()
    except UnicodeDecodeError as e:
        raise ApiError(400, "invalid_json", "the body is not UTF-8") from e
    p = principal(request)
    try:
        lic = await _service(request).upload(p.org_id, text, actor=p.subject)
    except LicenseError as e:
        raise ApiError(422, e.code, e.message) from e
    return web.json_response({"items": [lic.model_dump(mode="json")]}, status=201)


@api.route("GET", "/api/v1/licenses", roles=("admin",), response=ItemList, tag="licensing")
async def list_licenses(request: web.Request) -> web.Response:
    """Licenses of the org, with which are active now."""
    svc = _service(request)
    org = principal(request).org_id
    active = {lic.license_id for lic in await svc.active(org)}
    items = [{**lic.model_dump(mode="json"), "active": lic.license_id in active} for lic in await svc.list(org)]
    return web.json_response({"items": items})


@api.route("GET", "/api/v1/licenses/usage", roles=("admin",), response=Usage, tag="licensing",
           query={"period": "string"})
async def usage(request: web.Request) -> web.Response:
    """Peak concurrent (and when), named count, refusals, per-day series, 80 %/100 % warnings."""
    svc = _service(request)
    period = request.query.get("period") or None
    try:
        data = await svc.usage(principal(request).org_id, period)
    except ValueError as e:
        raise ApiError(400, "invalid_period", str(e)) from e
    return web.json_response(data, dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, default=str)
