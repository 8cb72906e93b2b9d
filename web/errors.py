"""The API's one error shape, and the middleware that guarantees it (never a bare 500 for bad input)."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from switchboard import jsonwire

log = structlog.get_logger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(error_body(code, message, details), status=status, headers=headers)


def validation_details(e: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in e.errors(include_url=False, include_context=False, include_input=False)
    ]


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return error_response(e.status, e.code, e.message, e.details, e.headers)
    except ValidationError as e:
        return error_response(422, "validation_error", "request did not validate", validation_details(e))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = HTTP_CODES.get(e.status, "http_error")
        return error_response(
            e.status,
            code,
            e.reason or code,
            headers={k: v for k, v in e.headers.items() if k.lower() in ("allow", "retry-after")},
        )
    except Exception:
        log.exception("unhandled_error", path=request.path, method=request.method)
        return error_response(500, "internal_error", "internal error; it has been logged")


async def read_json(request: web.Request) -> Any:
    """The body as JSON, with clear 4xx answers for the wrong content type or broken JSON.

    Strict RFC 8259 through orjson: nesting past 1024 levels (which would exhaust the stdlib parser's
    recursion), lone surrogates (which PostgreSQL cannot store), NaN and Infinity are all invalid JSON."""
    ctype = request.content_type
    if ctype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = await request.read()
    if not raw:
        raise ApiError(400, "invalid_json", "the request body is empty")
    try:
        return jsonwire.loads(raw)
    except ValueError as e:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {e}") from e
