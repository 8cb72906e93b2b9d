"""Bad input gets a clear 4xx in the API's error shape, never a 5xx: every route /openapi.json lists, called as
every role that may call it (and as the ones that may not), with malformed bodies, path parameters and queries.

The cases are built from the served document itself, so a new route is fuzzed without touching this file: each
body schema gives a well-formed example, and each field of it is then replaced by junk, dropped, or nested too
deep. Values hypothesis draws (derandomized, so every run sends the same requests) join the hand-picked ones.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import structlog.testing
from harness import TEST_SECRET, Org, artifact, drawn, intake
from hypothesis import strategies as st
from yarl import URL

from web.api import load_modules
from web.auth import issue_token
from web.routes import api

load_modules()  # every route registers itself on import

HUGE = "x" * 100_000
DEEP = 600  # nesting past orjson's and below json's recursion limits
ROLES = ("integration", "admin", "supervisor", "agent")
SAMPLE = 5
USERS = {"admin": "admin", "supervisor": "supervisor", "agent": "agent1"}
TWILIO_TOKEN = "fuzz-twilio-token-0123456789"
META_SECRET = "fuzz-meta-secret-0123456789"
EMAIL_SECRET = "fuzz-email-secret-0123456789"


def _deep(n: int) -> Any:
    v: Any = "bottom"
    for _ in range(n):
        v = [v]
    return v


# Stand-ins for a field's value, whatever its type: wrong types, extremes, and strings databases dislike.
JUNK: list[Any] = [
    None, True, 0, -1, 10**30, -(10**30), 1.5, float("nan"), float("inf"), "", HUGE, "\x00", "a\x00b",
    "../../etc/passwd", "2026-13-45T99:99:99", [], {}, [HUGE], {"$gt": ""}, _deep(DEEP), "\ud800",
]
# Already percent-encoded: they go into the URL as they are.
PATH_JUNK = [
    "not-a-uuid", "00000000-0000-0000-0000-000000000000", "-1", "0", "99999999999999999999", "1e309", "..%2F..%2Fetc",
    "%2e%2e%2f%2e%2e%2f", "'%20OR%20'1'='1", "%00", "a%00b", "%C3%BC", "%FF%FE", "x" * 3000, "%20", "null", "%7Bid%7D",
]
QUERY_JUNK = ["-1", "0", "abc", "99999999999999999999", "1e309", "", "garbage-cursor", "not-a-date", "2026-13",
              "2026-02-30", "2026-13-45T25:61:00", "\x00", "x" * 3000, "[]", "NaN"]
BAD_AUTH = ["Bearer", "Bearer ", "Bearer " + "x" * 4000, "Bearer a.b.c.d", "Bearer eyJ.eyJ.", "bearer\tx",
            "Token abc", "Bearer %00", "Bearer " + "é".encode().decode("latin-1")]
IDEMPOTENCY_JUNK = ["", " ", "x" * 201, "x" * 4000, "%00", "../../etc/passwd", "' OR '1'='1"]
# Query parameters any handler might read, sent to every GET whether it declares them or not.
COMMON_QUERY = ("limit", "cursor", "from", "to", "period", "state", "queue", "agent", "query", "interval")
RAW_BODIES: list[tuple[str, bytes, str | None]] = [
    ("empty body", b"", "application/json"),
    ("broken json", b"{not json", "application/json"),
    ("trailing garbage", b'{"a": 1} {"b": 2}', "application/json"),
    ("json null", b"null", "application/json"),
    ("json list", b"[]", "application/json"),
    ("json number", b"1e999", "application/json"),
    ("json string", b'"text"', "application/json"),
    ("not utf-8", b'{"a": "\xff\xfe"}', "application/json"),
    ("nested 50k deep", b"[" * 50_000 + b"]" * 50_000, "application/json"),
    ("nested 100k deep", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("nested object 100k deep", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
    ("over the size limit", b'{"a": "' + b"x" * 400_000 + b'"}', "application/json"),
    ("text/plain", b"{}", "text/plain"),
    ("form", b"a=1&b=2", "application/x-www-form-urlencoded"),
    ("multipart", b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b--\r\n",
     "multipart/form-data; boundary=b"),
    ("no content type", b'{"a": 1}', None),
    ("json with a bad charset", b"{}", "application/json; charset=no-such-charset"),
]



JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
DRAWN_VALUES = drawn(JSON_VALUES, 60)
DRAWN_SEGMENTS = [quote(s, safe="") for s in drawn(st.text(min_size=1, max_size=40), 30)]
DRAWN_QUERY = drawn(st.text(max_size=40), 20)


# -- building cases from the document ------------------------------------------------------------------


def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> Any:
    """A plausible well-formed value for a JSON schema, so that one bad field is the only fault."""
    schema = resolve(schema, defs)
    if depth > 6:
        return None
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if resolve(s, defs).get("type") != "null"] or schema[key]
            return example(options[0], defs, depth + 1)
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t == "object" or "properties" in schema:
        return {k: example(v, defs, depth + 1) for k, v in schema.get("properties", {}).items()}
    if t == "array":
        n = schema.get("minItems", 1)
        return [example(schema.get("items", {}), defs, depth + 1) for _ in range(n)]
    if t == "integer":
        return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if t == "number":
        return float(schema.get("minimum", 1))
    if t == "boolean":
        return True
    if t == "null":
        return None
    if t == "string":
        fmt = schema.get("format")
        if fmt == "email":
            return "fuzz@example.test"
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        if fmt == "date":
            return "2026-01-01"
        if fmt == "uuid":
            return "00000000-0000-0000-0000-000000000000"
        if fmt == "uri":
            return "http://127.0.0.1:9/hook"
        return "f" * max(schema.get("minLength", 1), 1) + "uzz"[: max(0, schema.get("maxLength", 8) - 1)]
    return "fuzz"


def field_paths(value: Any, levels: int = 3, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key or first list item of an example, down to ``levels`` levels."""
    if levels <= 0:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from field_paths(v, levels - 1, (*prefix, k))
    elif isinstance(value, list) and value:
        yield (*prefix, 0)
        yield from field_paths(value[0], levels - 1, (*prefix, 0))


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(doc)
    target = out
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return out


def dropped(doc: Any, path: tuple[Any, ...]) -> Any:
    out = copy.deepcopy(doc)
    target = out
    for p in path[:-1]:
        target = target[p]
    del target[path[-1]]
    return out


def encode(doc: Any) -> bytes:
    """JSON as a lax client might send it: NaN and Infinity included, lone surrogates escaped."""
    return json.dumps(doc, allow_nan=True).encode()


def body_mutations(schema: dict[str, Any] | None, defs: dict[str, Any]) -> tuple[Any, list[tuple[str, bytes]]]:
    good = example(schema, defs) if schema else {}
    muts: list[tuple[str, bytes]] = [("extra field", encode({**good, "unexpected": 1} if isinstance(good, dict)
                                                            else good)),
                                     ("empty object", b"{}")]
    for i, path in enumerate(field_paths(good)):
        where = ".".join(map(str, path))
        if isinstance(path[-1], str):
            muts.append((f"{where} missing", encode(dropped(good, path))))
        for v in JUNK:
            muts.append((f"{where}={str(v)[:30]!r}", encode(replaced(good, path, v))))
        for v in (DRAWN_VALUES[(2 * i) % len(DRAWN_VALUES)], DRAWN_VALUES[(2 * i + 1) % len(DRAWN_VALUES)]):
            muts.append((f"{where}={str(v)[:30]!r} (drawn)", encode(replaced(good, path, v))))
    for v in DRAWN_VALUES[:10]:
        muts.append((f"body={str(v)[:30]!r} (drawn)", encode(v)))
    return good, muts


@dataclass(frozen=True)
class Case:
    op: str  # "METHOD /template"
    what: str
    role: str  # a role, "none", or "bad_token"
    method: str
    url: str  # already percent-encoded
    body: bytes | None = None
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    expect: int | None = None  # an exact status (401/403); None: anything below 500


def pinned(org: Org, path: str, name: str, interaction_id: str, customer_id: str) -> str:
    """A real value for a path parameter, so body and query faults are met past the 404."""
    by_path = {
        "/api/v1/users/{id}": org.users[org.email("agent5")],
        "/api/v1/agents/{id}/state": org.users[org.email("agent4")],
    }
    if path in by_path:
        return by_path[path]
    by_name = {"org": org.id, "channel": "sms", "queue": "support", "name": "support", "key": "meeting"}
    if name in by_name:
        return by_name[name]
    if path.startswith("/api/v1/customers/"):
        return customer_id
    return interaction_id


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)


def fuzz_cases(name: str, role: str, method: str, path: str, op: dict[str, Any], real: str, names: list[str],
               muts: list[tuple[str, bytes]], good_body: bytes | None) -> Iterator[Case]:
    # DELETEs and body-less POSTs are only ever sent to ids that do not exist
    if muts:
        for what, raw in muts:
            yield Case(name, what, role, method, real, raw)
        for what, raw, ctype in RAW_BODIES:
            yield Case(name, what, role, method, real, raw, ctype)
    if names:
        for v in [*PATH_JUNK, *DRAWN_SEGMENTS]:
            yield Case(name, f"path {v[:30]!r}", role, method, fill(path, dict.fromkeys(names, v)), good_body)
    if method == "GET":
        declared = [p["name"] for p in op["parameters"] if p["in"] == "query"]
        for q in declared:
            for v in QUERY_JUNK:
                yield Case(name, f"?{q}={v[:20]!r}", role, method, f"{real}?{urlencode({q: v})}")
        undeclared = [q for q in COMMON_QUERY if q not in declared]
        for i, v in enumerate(DRAWN_QUERY):
            q = (declared or undeclared)[i % len(declared or undeclared)]
            yield Case(name, f"?{q}={v[:20]!r} (drawn)", role, method, f"{real}?{urlencode({q: v})}")
        junk = "&".join(f"{q}={quote(v, safe='')}" for q, v in zip(undeclared, QUERY_JUNK[2:], strict=False))
        yield Case(name, "undeclared junk query", role, method, f"{real}?{junk}")
        yield Case(name, "repeated and unknown query", role, method,
                   f"{real}?limit=1&limit=2&cursor=&from=&nope=1&%FF=%FE")


def cases_for(doc: dict[str, Any], org: Org, interaction_id: str, customer_id: str) -> list[Case]:
    roles_by_op = {(s.method, s.path): s.roles for s in api.specs}
    defs = doc["components"]["schemas"]
    out: list[Case] = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            method = method.upper()
            name = f"{method} {path}"
            roles = roles_by_op[(method, path)]
            names = re.findall(r"{(\w+)}", path)
            real = fill(path, {n: quote(pinned(org, path, n, interaction_id, customer_id), safe="") for n in names})
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            good, muts = body_mutations(schema, defs) if method in ("POST", "PUT", "PATCH") else (None, [])
            good_body = encode(good) if good is not None else None
            callers = ("none", "admin") if roles is None else tuple(r for r in ROLES if r in roles)
            # the wrong callers: refused before anything is read, however bad the input
            if roles is not None:
                for bad in BAD_AUTH:
                    out.append(Case(name, f"Authorization {bad[:30]!r}", "none", method, real, good_body,
                                    headers=(("Authorization", bad),), expect=401))
                for body in (good_body, b"{not json"):
                    out.append(Case(name, "no credentials", "none", method, real, body, expect=401))
                    out.append(Case(name, "a forged token", "bad_token", method, real, body, expect=401))
                    out.append(Case(name, "a basic credential", "basic", method, real, body, expect=401))
                    for r in ROLES:
                        if r not in roles:
                            out.append(Case(name, f"as {r}", r, method, real, body, expect=403))
            if muts:  # headers a handler may read, sent with a well-formed body
                for key in IDEMPOTENCY_JUNK:
                    out.append(Case(name, f"Idempotency-Key {key[:20]!r}", callers[0], method, real, good_body,
                                    headers=(("Idempotency-Key", key),)))
            for i, role in enumerate(callers):
                mine = list(fuzz_cases(name, role, method, path, op, real, names, muts, good_body))
                # the first caller gets every case; the others every fifth (their refusals differ, not the parsing)
                out.extend(mine if i == 0 else mine[i::SAMPLE])
    return out


# -- sending them ------------------------------------------------------------------------------------


def credential(org: Org, role: str) -> dict[str, str]:
    if role == "none":
        return {}
    if role == "bad_token":
        return {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged"}
    if role == "basic":
        return {"Authorization": "Basic " + base64.b64encode(b"admin:switchboard").decode()}
    if role == "integration":
        return {"Authorization": f"Bearer {org.api_key}"}
    # a fresh token per request: fuzzing the logout route must not revoke the next case's credential
    token, _, _ = issue_token(TEST_SECRET, org.id, org.users[org.email(USERS[role])], role, 3600)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


def shape_problem(status: int, ctype: str, text: str) -> str | None:
    """Why an error answer is not ``{"error": {"code": str, "message": str, "details": ...}}``, or None."""
    if ctype != "application/json":
        return f"content type {ctype!r}"
    try:
        doc = json.loads(text)
    except ValueError:
        return "not JSON"
    err = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or set(doc) != {"error"} or not isinstance(err, dict):
        return "not an error object"
    if not (isinstance(err.get("code"), str) and err["code"] and isinstance(err.get("message"), str)
            and err["message"] and "details" in err):
        return "error lacks code, message or details"
    return None


async def send(http: aiohttp.ClientSession, org: Org, c: Case) -> str | None:
    headers = {**credential(org, c.role), **dict(c.headers)}
    skip: list[str] = []
    if c.body is not None:
        if c.content_type is None:
            skip.append("Content-Type")
        else:
            headers["Content-Type"] = c.content_type
    async with http.request(c.method, URL(org.base + c.url, encoded=True), data=c.body, headers=headers,
                            skip_auto_headers=skip) as r:
        text = await r.text(errors="replace")
        status, ctype = r.status, r.content_type
    where = f"{c.op} [{c.role}] {c.what}: {status}"
    if status >= 500:
        return f"{where} {text[:300]}"
    if c.expect is not None and status != c.expect:
        return f"{where}, expected {c.expect}: {text[:200]}"
    if status >= 400:
        problem = shape_problem(status, ctype, text)
        if problem:
            return f"{where} {problem}: {text[:200]}"
    return None


async def run_all(http: aiohttp.ClientSession, org: Org, cases: list[Case], width: int = 8) -> list[str]:
    gate = asyncio.Semaphore(width)

    async def one(c: Case) -> str | None:
        async with gate:
            return await send(http, org, c)

    return [f for f in await asyncio.gather(*(one(c) for c in cases)) if f]


def verdict(name: str, failures: list[str], total: int, took: float) -> str:
    """All failures to test-artifacts/ (CI keeps them), the first forty for the assertion message."""
    with open(artifact(f"{name}.txt"), "w") as f:
        f.write(f"{len(failures)} of {total} cases failed in {took:.1f} s\n" + "\n".join(failures) + "\n")
    return f"{len(failures)} of {total} cases failed (in {took:.0f} s):\n" + "\n".join(failures[:40])


class LogWatch(logging.Handler):
    """ERROR records of the web stack (aiohttp's "Error handling request" when an exception escapes every
    middleware); other tests' background tasks may log their own errors meanwhile, so only these count."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("aiohttp", "engineio", "socketio")):
            self.seen.append(f"{record.name}: {record.getMessage()[:300]}")


async def configure_channels(http: aiohttp.ClientSession, org: Org) -> None:
    """Every provider channel set up, so unsigned junk meets the signature and content checks."""
    headers = credential(org, "admin")
    provider = {
        "sms": {"account_sid": "ACfake", "auth_token": TWILIO_TOKEN, "from_number": "+14155550000",
                "base_url": "http://127.0.0.1:9"},
        "email": {"signing_secret": EMAIL_SECRET, "send_url": "http://127.0.0.1:9/send", "from_address": "a@b.test"},
        "whatsapp": {"app_secret": META_SECRET, "verify_token": "verify", "access_token": "EAAfake",
                     "phone_number_id": "1055", "base_url": "http://127.0.0.1:9"},
        "messenger": {"app_secret": META_SECRET, "verify_token": "verify", "access_token": "EAAfake",
                      "phone_number_id": "1055", "base_url": "http://127.0.0.1:9"},
    }
    async with http.get(f"{org.base}/api/v1/queues/sales", headers=headers) as r:
        queue = await r.json()
    queue["channels"] = sorted({*queue["channels"], *provider})
    async with http.put(f"{org.base}/api/v1/queues/sales", headers=headers, json=queue) as r:
        assert r.status == 200, await r.text()
    for channel, settings_ in provider.items():
        async with http.put(f"{org.base}/api/v1/channels/{channel}", headers=headers,
                            json={"queue": "sales", "provider": settings_}) as r:
            assert r.status == 200, await r.text()


async def seed(http: aiohttp.ClientSession, org: Org, pool: Any) -> tuple[str, str]:
    status, b = await intake(http, org, {"channel": "chat", "queue": "sales", "message": {"text": "hi"},
                                         "customer": {"identity": {"type": "email", "value": "fz@x.test"}}})
    assert status == 201, b
    cid = await pool.fetchval("SELECT customer_id FROM interactions WHERE id=$1::uuid", b["id"])
    return b["id"], str(cid)


async def test_every_route_answers_junk_with_a_4xx_in_the_error_shape(http, server, org, pool):
    async with http.get(f"{org.base}/openapi.json") as r:
        doc = await r.json()
    await configure_channels(http, org)
    interaction_id, customer_id = await seed(http, org, pool)
    cases = cases_for(doc, org, interaction_id, customer_id)
    ops = {c.op for c in cases}
    assert len(ops) == sum(len(item) for item in doc["paths"].values()) >= 60, "every operation gets cases"
    assert {c.role for c in cases} >= {*ROLES, "none", "bad_token"}
    watch = LogWatch()
    logging.getLogger().addHandler(watch)
    started = time.monotonic()
    try:
        with structlog.testing.capture_logs() as logs:
            failures = await run_all(http, org, cases)
    finally:
        logging.getLogger().removeHandler(watch)
    took = time.monotonic() - started
    crashed = [f"{e.get('method')} {e.get('path')}" for e in logs if e.get("event") == "unhandled_error"]
    assert not failures, verdict("web_fuzz_rest", failures, len(cases), took)
    assert not crashed, crashed[:20]
    assert not watch.seen, watch.seen[:20]


# -- signed webhooks: junk that passes the signature check must still be a 4xx ----------------------------


def twilio_signature(url: str, params: dict[str, str]) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(TWILIO_TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


def meta_signature(raw: bytes) -> str:
    return "sha256=" + hmac.new(META_SECRET.encode(), raw, hashlib.sha256).hexdigest()


def email_headers(raw: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    mac = hmac.new(EMAIL_SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return {"X-Switchboard-Signature": f"sha256={mac}", "X-Switchboard-Timestamp": stamp}


SMS_GOOD = {"AccountSid": "ACfake", "From": "+14155550101", "To": "+14155550000", "Body": "hi",
            "MessageSid": "SM1", "SmsSid": "SM1", "SmsStatus": "received", "NumMedia": "0"}
WHATSAPP_GOOD = {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
    "field": "messages", "value": {
    "messaging_product": "whatsapp", "metadata": {"phone_number_id": "1055"},
    "contacts": [{"wa_id": "14155550102", "profile": {"name": "W"}}],
    "messages": [{"from": "14155550102", "id": "wamid.1", "timestamp": "1760000000", "type": "text",
                  "text": {"body": "hi"}}],
    "statuses": [{"id": "wamid.x", "status": "delivered", "timestamp": "1760000000", "recipient_id": "1"}]}}]}]}
MESSENGER_GOOD = {"object": "page", "entry": [{"id": "PAGE", "time": 1760000000000, "messaging": [
    {"sender": {"id": "psid1"}, "recipient": {"id": "PAGE"}, "timestamp": 1760000000000,
     "message": {"mid": "m1", "text": "hi", "reply_to": {"mid": "m0"}, "attachments": [{"type": "image"}]}},
    {"sender": {"id": "psid1"}, "timestamp": 1760000000000, "postback": {"mid": "m2", "title": "Yes", "payload": "Y"}},
    {"sender": {"id": "psid1"}, "timestamp": 1760000000000, "delivery": {"mids": ["m0"], "watermark": 1760000000000}},
    {"sender": {"id": "psid1"}, "timestamp": 1760000000000, "delivery": {"watermark": 1760000000000}},
    {"sender": {"id": "psid1"}, "timestamp": 1760000000000, "read": {"watermark": 1760000000000}}]}]}
EMAIL_GOOD = {"from": "Grace <grace@example.org>", "to": "help@shop.test", "subject": "Hi", "text": "hello",
              "message_id": "abc@mail.example.org", "in_reply_to": "<x@y>", "references": "<a@b> <c@d>"}


def signed_cases(org: Org) -> list[Case]:
    out: list[Case] = []
    sms_path = f"/webhooks/sms/{org.id}"
    for path in (sms_path, f"{sms_path}/status"):
        url = org.base + path
        forms = [(f"{k} missing", {kk: vv for kk, vv in SMS_GOOD.items() if kk != k}) for k in SMS_GOOD]
        for k in SMS_GOOD:
            for v in ["", "\x00", HUGE[:60_000], "-1", "99999999999999999999", "not a phone", "NaN", "[]"]:
                forms.append((f"{k}={v[:20]!r}", {**SMS_GOOD, k: v}))
        forms.append(("status only", {"MessageSid": "SM9", "MessageStatus": "bogus", "ErrorCode": "x"}))
        forms.append(("media", {**SMS_GOOD, "NumMedia": "5", "MediaUrl0": "::", "MediaContentType0": "\x00"}))
        for what, form in forms:
            raw = urlencode(form).encode()
            out.append(Case(f"POST {path}", what, "none", "POST", path, raw, "application/x-www-form-urlencoded",
                            (("X-Twilio-Signature", twilio_signature(url, form)),)))
    payloads: list[tuple[str, dict[str, Any]]] = [("whatsapp", WHATSAPP_GOOD), ("messenger", MESSENGER_GOOD),
                                                  ("email", EMAIL_GOOD)]
    for channel, good in payloads:
        path = f"/webhooks/{channel}/{org.id}"
        docs: list[tuple[str, Any]] = [(f"body={str(v)[:30]!r}", v) for v in JUNK if not isinstance(v, str)
                                       or len(v) < 1000]
        paths = list(field_paths(good, levels=9))
        if channel == "messenger":  # each kind of event is its own list item
            events = good["entry"][0]["messaging"]
            paths += [("entry", 0, "messaging", i, *p) for i in range(1, len(events))
                      for p in field_paths(events[i], levels=3)]
        for p in paths:
            where = ".".join(map(str, p))
            if isinstance(p[-1], str):
                docs.append((f"{where} missing", dropped(good, p)))
            for v in JUNK:
                if v is HUGE:
                    v = "x" * 60_000  # within the webhook size limit
                docs.append((f"{where}={str(v)[:30]!r}", replaced(good, p, v)))
        raws = [(what, encode(d)) for what, d in docs]
        raws += [(what, raw) for what, raw, ctype in RAW_BODIES if ctype == "application/json" and len(raw) < 120_000]
        raws.append(("lone surrogate", encode(good).replace(b'"hi"', b'"\\ud800"').replace(b'"hello"', b'"\\udc00"')))
        for what, raw in raws:
            headers = tuple(email_headers(raw).items()) if channel == "email" else (
                ("X-Hub-Signature-256", meta_signature(raw)),)
            out.append(Case(f"POST {path}", what, "none", "POST", path, raw, "application/json", headers))
        if channel != "email":
            for q in ({"hub.mode": "subscribe"}, {"hub.mode": "x", "hub.verify_token": "verify"},
                      {"hub.mode": "subscribe", "hub.verify_token": "verify"}, {"hub.challenge": "\x00"}):
                out.append(Case(f"GET {path}", f"handshake {q}", "none", "GET", f"{path}?{urlencode(q)}"))
    return out


async def test_signed_webhooks_with_junk_fields_get_a_4xx_never_a_5xx(http, server, org):
    await configure_channels(http, org)
    cases = signed_cases(org)
    assert len(cases) > 300
    started = time.monotonic()
    failures = await run_all(http, org, cases)
    assert not failures, verdict("web_fuzz_webhooks", failures, len(cases), time.monotonic() - started)
