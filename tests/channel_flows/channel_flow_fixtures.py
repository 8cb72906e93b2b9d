"""Helpers for the channel flow tests: a fake provider / integrator that fails on cue, and requests
signed the way each provider documents it (computed here, independently of the channels package)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

TWILIO_TOKEN = "twilio-auth-token-0123456789"
META_SECRET = "meta-app-secret-0123456789"
META_VERIFY = "meta-verify-token"
EMAIL_SECRET = "email-relay-secret-0123456789"


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode()))

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeProvider:
    """Twilio / Graph / relay / integrator in one; ``down`` answers 503 until cleared."""

    base_url: str = ""
    down: bool = False
    hits: list[Hit] = field(default_factory=list)
    accepted: dict[str, Hit] = field(default_factory=dict)  # by Idempotency-Key: what was acted on
    _n: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        hit = Hit(request.path, dict(request.headers), await request.read())
        self.hits.append(hit)
        if self.down:
            return web.Response(status=503, text="down for maintenance")
        key = request.headers.get("Idempotency-Key") or f"none-{len(self.hits)}"
        if key not in self.accepted:
            self.accepted[key] = hit
        self._n += 1
        if hit.path.endswith("/Messages.json"):
            return web.json_response({"sid": f"SMfake{self._n:026d}", "status": "queued"}, status=201)
        if hit.path.endswith("/me/messages"):
            return web.json_response({"recipient_id": "psid", "message_id": f"m_fake{self._n}"})
        if hit.path.endswith("/messages"):
            return web.json_response({"messages": [{"id": f"wamid.fake{self._n}"}]})
        return web.json_response({"ok": True})

    def sends(self, suffix: str = "/Messages.json") -> list[Hit]:
        return [h for h in self.accepted.values() if h.path.endswith(suffix)]

    async def wait_for(self, pred: Callable[[], bool], timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(f"fake provider never saw it; hits={[h.path for h in self.hits]}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_provider() -> AsyncIterator[FakeProvider]:
    """A fake provider on a random local port, for a test's ``provider`` fixture."""
    fake = FakeProvider()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def fast_retries(server: Any) -> Iterator[None]:
    """Shrink the app worker's backoff so an outage of a second or two is retried within the test."""
    from web.context import CTX

    worker = server.app[CTX].extras["outbox_worker"]
    saved = worker.base_delay_s, worker.max_delay_s
    worker.base_delay_s, worker.max_delay_s = 0.2, 0.4
    try:
        yield
    finally:
        worker.base_delay_s, worker.max_delay_s = saved


# The root conftest's ``Org`` (this directory's conftest shadows the name ``conftest`` here).
Org = Any


async def login(http: aiohttp.ClientSession, org: Org, who: str) -> str:
    async with http.post(
        f"{org.base}/api/v1/auth/login", json={"email": org.email(who), "password": "switchboard"}
    ) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["token"])


async def rest_intake(http: aiohttp.ClientSession, org: Org, body: dict[str, Any]) -> tuple[int, Any]:
    """POST /api/v1/interactions with the org's integration key."""
    async with http.post(
        f"{org.base}/api/v1/interactions", json=body, headers={"Authorization": f"Bearer {org.api_key}"}
    ) as r:
        return r.status, await r.json()


async def admin_headers(http: aiohttp.ClientSession, org: Org, who: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {await login(http, org, who)}"}


def provider_settings(channel: str, base_url: str) -> dict[str, Any]:
    if channel == "sms":
        return {
            "account_sid": "ACfake",
            "auth_token": TWILIO_TOKEN,
            "from_number": "+14155550000",
            "base_url": base_url,
        }
    if channel == "email":
        return {"signing_secret": EMAIL_SECRET, "send_url": f"{base_url}/relay/send", "from_address": "help@shop.test"}
    return {
        "app_secret": META_SECRET,
        "verify_token": META_VERIFY,
        "access_token": "EAAfake",
        "phone_number_id": "1055",
        "base_url": base_url,
    }


async def configure(http: aiohttp.ClientSession, org: Org, channel: str, base_url: str, **extra: Any) -> dict:  # type: ignore[type-arg]
    """Set the channel up through the admin API, the way an admin would."""
    body = {"queue": "sales", "provider": provider_settings(channel, base_url), **extra}
    async with http.put(
        f"{org.base}/api/v1/channels/{channel}", json=body, headers=await admin_headers(http, org)
    ) as r:
        assert r.status == 200, await r.text()
        return await r.json()  # type: ignore[no-any-return]


# -- signatures, from each provider's documentation ------------------------------------------------


def twilio_signature(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    """Twilio: base64(HMAC-SHA1(auth token, URL + each POST param name+value sorted by name))."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def meta_signature(body: bytes, secret: str = META_SECRET) -> str:
    """Meta: "sha256=" + hex HMAC-SHA256(app secret, raw body)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def email_signature(body: bytes, timestamp: str, secret: str = EMAIL_SECRET) -> str:
    """Relay: "sha256=" + hex HMAC-SHA256(secret, "<timestamp>.<raw body>")."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def sms_params(sender: str, text: str, sid: str) -> dict[str, str]:
    return {
        "AccountSid": "ACfake",
        "From": sender,
        "To": "+14155550000",
        "Body": text,
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "NumMedia": "0",
    }


async def post_sms(
    http: aiohttp.ClientSession,
    org: Org,
    params: dict[str, str],
    *,
    path: str = "",
    signature: str | None = None,
    body: bytes | None = None,
) -> tuple[int, str]:
    url = f"{org.base}/webhooks/sms/{org.id}{path}"
    sig = signature if signature is not None else twilio_signature(url, params)
    raw = body if body is not None else urlencode(params).encode()
    async with http.post(
        url, data=raw, headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
    ) as r:
        return r.status, await r.text()


def whatsapp_payload(sender: str, text: str, wamid: str, name: str = "Wanda") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": "1055"},
                            "contacts": [{"wa_id": sender.lstrip("+"), "profile": {"name": name}}],
                            "messages": [
                                {
                                    "from": sender.lstrip("+"),
                                    "id": wamid,
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def messenger_payload(psid: str, text: str, mid: str) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [
            {
                "id": "PAGE",
                "time": int(time.time() * 1000),
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": "PAGE"},
                        "timestamp": int(time.time() * 1000),
                        "message": {"mid": mid, "text": text},
                    }
                ],
            }
        ],
    }


async def post_meta(
    http: aiohttp.ClientSession,
    org: Org,
    channel: str,
    payload: dict[str, Any],
    *,
    signature: str | None = None,
    body: bytes | None = None,
) -> tuple[int, Any]:
    raw = body if body is not None else json.dumps(payload).encode()
    sig = signature if signature is not None else meta_signature(raw)
    async with http.post(
        f"{org.base}/webhooks/{channel}/{org.id}",
        data=raw,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig},
    ) as r:
        return r.status, await r.json()


async def post_email(
    http: aiohttp.ClientSession, org: Org, doc: dict[str, Any], *, tamper: bool = False
) -> tuple[int, Any]:
    raw = json.dumps(doc).encode()
    stamp = str(int(time.time()))
    sig = email_signature(raw, stamp)
    if tamper:
        raw = raw.replace(b"hello", b"HELLO")
    async with http.post(
        f"{org.base}/webhooks/email/{org.id}",
        data=raw,
        headers={"Content-Type": "application/json", "X-Switchboard-Signature": sig, "X-Switchboard-Timestamp": stamp},
    ) as r:
        return r.status, await r.json()
