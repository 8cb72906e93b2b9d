"""OpenAPI 3.1 document generated from the route registry's pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from web.routes import Api, RouteSpec

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
        }
    },
}


def _success(s: RouteSpec, refs: dict[Any, Any]) -> dict[str, Any]:
    """A 204 has no body; CSV routes answer text; everything else the route's JSON model."""
    if s.status == 204:
        return {"description": "success, no content"}
    if s.success_media_type != "application/json":
        return {"description": "success", "content": {s.success_media_type: {"schema": {"type": "string"}}}}
    schema = refs[(s.response, "validation")] if s.response is not None else {"type": "object"}
    return {"description": "success", "content": {"application/json": {"schema": schema}}}


def build(api: Api, title: str = "Switchboard", version: str = "0.1.0") -> dict[str, Any]:
    models: list[type[BaseModel]] = []
    for s in api.specs:
        for m in (s.body, s.doc_body, s.response):
            if m is not None and m not in models:
                models.append(m)
    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, Any] = {}
    for s in api.specs:
        path = s.path
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", path)]
        params += [{"name": n, "in": "query", "required": False, "schema": {"type": t}} for n, t in s.query.items()]
        op: dict[str, Any] = {
            "operationId": f"{s.method.lower()}_{s.handler.__name__}",
            "summary": s.summary.splitlines()[0] if s.summary else s.handler.__name__,
            "tags": [s.tag],
            "parameters": params,
            "responses": {},
        }
        documented_body = s.body or s.doc_body
        if documented_body is not None:
            schema = refs[(documented_body, "validation")]
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
        op["responses"][str(s.status)] = _success(s, refs)
        if s.status == 201:
            op["responses"]["200"] = {**_success(s, refs), "description": "already existed (idempotent replay)"}
        err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code, text in (("400", "bad request"), ("401", "unauthenticated"), ("403", "forbidden"),
                           ("404", "not found"), ("409", "conflict"), ("413", "too large"),
                           ("415", "wrong content type"), ("422", "validation error"), ("429", "rate limited"),
                           ("503", "unavailable")):
            op["responses"][code] = {"description": text, **err}
        if s.roles is not None:
            op["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[s.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
