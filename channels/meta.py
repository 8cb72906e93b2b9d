"""Meta webhooks and Send APIs: WhatsApp Cloud API and Messenger Platform.

Both sign the raw POST body in ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 with the app secret>``
and confirm a subscription with a GET handshake echoing ``hub.challenge``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from channels.model import (
    DeliveryStatus,
    InboundMessage,
    OutboundRequest,
    StatusUpdate,
    WebhookBatch,
    WebhookError,
    get_header,
)
from channels.phone import normalise_e164
from switchboard import jsonwire

SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v21.0"
_WHATSAPP_STATUS: dict[str, DeliveryStatus] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}


def compute_signature(raw_body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta would send for this body."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """True when ``header`` is ``sha256=<hex>`` of the raw body (constant-time compare)."""
    if not header or not app_secret:
        return False
    algo, _, given = header.strip().partition("=")
    if algo.lower() != "sha256" or not given:
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.lower())


def verify_handshake(query: Mapping[str, str], verify_token: str) -> str:
    """Answer Meta's subscription check: the challenge to echo, or 403 if the token differs."""
    mode = query.get("hub.mode")
    token = query.get("hub.verify_token") or ""
    challenge = query.get("hub.challenge")
    if mode != "subscribe" or challenge is None or not verify_token:
        raise WebhookError(403, "verification_failed", "not a subscribe handshake")
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise WebhookError(403, "verification_failed", "verify token does not match")
    return challenge


def _load(
    raw_body: bytes, headers: Mapping[str, str], app_secret: str, expected_object: str
) -> dict[str, Any]:
    if not verify_signature(raw_body, get_header(headers, SIGNATURE_HEADER), app_secret):
        raise WebhookError(403, "invalid_signature", "X-Hub-Signature-256 does not match")
    try:
        payload = jsonwire.loads(raw_body)  # strict: no lone surrogates (PostgreSQL cannot store them), no NaN
    except ValueError as exc:
        raise WebhookError(400, "malformed_payload", f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("object") != expected_object:
        raise WebhookError(400, "malformed_payload", f"expected object {expected_object!r}")
    return payload


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# Past year 9999 an epoch time no longer converts to a datetime.
MAX_EPOCH_S = 253_402_300_799


def _seconds(value: Any, per_second: int = 1) -> float:
    """A provider's epoch timestamp in seconds; anything but a number (or numeric string) in range is malformed."""
    try:
        t = float(value or 0) / per_second
    except (TypeError, ValueError):
        raise WebhookError(400, "malformed_payload", f"timestamp {str(value)[:40]!r} is not a number") from None
    if not 0 <= t <= MAX_EPOCH_S:  # also false for NaN
        raise WebhookError(400, "malformed_payload", f"timestamp {str(value)[:40]!r} is out of range")
    return t


def _wa_identity(wa_id: str) -> str:
    """WhatsApp ids are phone numbers without '+'; keep them E.164 so they match phone identities."""
    digits = "+" + wa_id.lstrip("+")
    try:
        return normalise_e164(digits)
    except WebhookError:
        return digits


def _whatsapp_text(message: dict[str, Any]) -> str:
    kind = str(message.get("type") or "text")
    body = _dict(message.get(kind))
    if kind == "text":
        return str(body.get("body", ""))
    if kind == "button":
        return str(body.get("text", ""))
    if kind == "interactive":
        reply = _dict(body.get("button_reply")) or _dict(body.get("list_reply"))
        return str(reply.get("title", "[interactive]"))
    caption = body.get("caption")
    return f"[{kind}] {caption}" if caption else f"[{kind}]"


def parse_whatsapp(payload: Mapping[str, Any]) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """Messages and delivery statuses from a Cloud API ``whatsapp_business_account`` notification."""
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for entry in _list(payload.get("entry")):
        for change in _list(_dict(entry).get("changes")):
            value = _dict(_dict(change).get("value"))
            names = {
                str(c.get("wa_id")): _dict(c.get("profile")).get("name")
                for c in map(_dict, _list(value.get("contacts")))
            }
            for msg in map(_dict, _list(value.get("messages"))):
                sender, mid = msg.get("from"), msg.get("id")
                if not sender or not mid:
                    raise WebhookError(400, "malformed_payload", "WhatsApp message without from/id")
                messages.append(
                    InboundMessage(
                        channel="whatsapp",
                        identity_type="whatsapp",
                        identity_value=_wa_identity(str(sender)),
                        name=names.get(str(sender)),
                        text=_whatsapp_text(msg),
                        provider_message_id=str(mid),
                        in_reply_to=_dict(msg.get("context")).get("id"),
                        received_at=_seconds(msg.get("timestamp")),
                    )
                )
            for st in map(_dict, _list(value.get("statuses"))):
                status = _WHATSAPP_STATUS.get(str(st.get("status")))
                if status is None or not st.get("id"):
                    continue
                errors = [_dict(e) for e in _list(st.get("errors"))]
                error = "; ".join(f"{e.get('code')} {e.get('title') or e.get('message')}" for e in errors)
                statuses.append(
                    StatusUpdate(
                        provider_message_id=str(st["id"]),
                        status=status,
                        error=error or None,
                        recipient_id=st.get("recipient_id"),
                    )
                )
    return messages, statuses


def _messenger_text(message: dict[str, Any]) -> str:
    if message.get("text"):
        return str(message["text"])
    kinds = [str(_dict(a).get("type", "attachment")) for a in _list(message.get("attachments"))]
    return " ".join(f"[{k}]" for k in kinds) or ""


def parse_messenger(payload: Mapping[str, Any]) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """Messages, deliveries and reads from a Messenger ``page`` notification; echoes are skipped."""
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for entry in _list(payload.get("entry")):
        for event in map(_dict, _list(_dict(entry).get("messaging"))):
            sender = str(_dict(event.get("sender")).get("id") or "")
            at = _seconds(event.get("timestamp"), 1000)
            if "message" in event:
                msg = _dict(event["message"])
                if msg.get("is_echo"):
                    continue
                if not sender or not msg.get("mid"):
                    raise WebhookError(400, "malformed_payload", "Messenger message without sender/mid")
                messages.append(
                    InboundMessage(
                        channel="messenger",
                        identity_type="messenger",
                        identity_value=sender,
                        text=_messenger_text(msg),
                        provider_message_id=str(msg["mid"]),
                        in_reply_to=_dict(msg.get("reply_to")).get("mid"),
                        received_at=at,
                    )
                )
            elif "postback" in event:
                postback = _dict(event["postback"])
                mid = postback.get("mid") or f"postback:{sender}:{event.get('timestamp')}"
                messages.append(
                    InboundMessage(
                        channel="messenger",
                        identity_type="messenger",
                        identity_value=sender,
                        text=str(postback.get("title") or postback.get("payload") or ""),
                        provider_message_id=str(mid),
                        received_at=at,
                    )
                )
            elif "delivery" in event:
                delivery = _dict(event["delivery"])
                mids = [str(m) for m in _list(delivery.get("mids"))]
                statuses.extend(StatusUpdate(provider_message_id=m, status="delivered") for m in mids)
                if not mids and delivery.get("watermark"):
                    statuses.append(_watermark("delivered", sender, delivery["watermark"]))
            elif "read" in event:
                read = _dict(event["read"])
                if read.get("watermark"):
                    statuses.append(_watermark("read", sender, read["watermark"]))
    return messages, statuses


def _watermark(status: DeliveryStatus, recipient: str, watermark_ms: Any) -> StatusUpdate:
    """Messenger reports 'everything up to this time' for a recipient rather than per message."""
    return StatusUpdate(
        provider_message_id=None, status=status, recipient_id=recipient, watermark=_seconds(watermark_ms, 1000)
    )


Parser = Callable[[Mapping[str, Any]], tuple[list[InboundMessage], list[StatusUpdate]]]


def _batch(parse: Parser, payload: Mapping[str, Any]) -> WebhookBatch:
    """A field of the wrong type (a list for a name, a number for an id) is the payload's fault: 400."""
    try:
        messages, statuses = parse(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise WebhookError(400, "malformed_payload", f"{where}: {first['msg']}") from exc
    return WebhookBatch(messages=messages, statuses=statuses)


def read_whatsapp_webhook(raw_body: bytes, headers: Mapping[str, str], app_secret: str) -> WebhookBatch:
    """Verify and parse one WhatsApp Cloud API webhook POST."""
    return _batch(parse_whatsapp, _load(raw_body, headers, app_secret, "whatsapp_business_account"))


def read_messenger_webhook(raw_body: bytes, headers: Mapping[str, str], app_secret: str) -> WebhookBatch:
    """Verify and parse one Messenger webhook POST."""
    return _batch(parse_messenger, _load(raw_body, headers, app_secret, "page"))


def build_whatsapp_send(
    access_token: str,
    phone_number_id: str,
    to: str,
    body: str,
    base_url: str = DEFAULT_BASE_URL,
    version: str = DEFAULT_VERSION,
) -> OutboundRequest:
    """Cloud API request sending a text message to the WhatsApp number ``to``."""
    return OutboundRequest(
        url=f"{base_url.rstrip('/')}/{version}/{phone_number_id}/messages",
        headers={"Authorization": f"Bearer {access_token}"},
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.lstrip("+"),
            "type": "text",
            "text": {"body": body},
        },
    )


def whatsapp_sent_id(response: Mapping[str, Any]) -> str:
    """The ``wamid`` of the message the Cloud API accepted."""
    messages = _list(response.get("messages"))
    mid = _dict(messages[0]).get("id") if messages else None
    if not isinstance(mid, str) or not mid:
        raise ValueError("WhatsApp response has no messages[0].id")
    return mid


def build_messenger_send(
    access_token: str,
    recipient_id: str,
    text: str,
    base_url: str = DEFAULT_BASE_URL,
    version: str = DEFAULT_VERSION,
) -> OutboundRequest:
    """Send API request answering the page-scoped user ``recipient_id``."""
    return OutboundRequest(
        url=f"{base_url.rstrip('/')}/{version}/me/messages",
        headers={"Authorization": f"Bearer {access_token}"},
        json={"recipient": {"id": recipient_id}, "messaging_type": "RESPONSE", "message": {"text": text}},
    )


def messenger_sent_id(response: Mapping[str, Any]) -> str:
    """The ``mid`` of the message the Send API accepted."""
    mid = response.get("message_id")
    if not isinstance(mid, str) or not mid:
        raise ValueError("Messenger response has no message_id")
    return mid
