"""Twilio Programmable Messaging: inbound SMS webhooks, status callbacks, and the Messages API.

Twilio posts ``application/x-www-form-urlencoded`` and signs it in ``X-Twilio-Signature``: base64 of
HMAC-SHA1 (key: the account auth token) over the full webhook URL followed by every POST parameter's
name and value, in parameter-name order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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

SIGNATURE_HEADER = "X-Twilio-Signature"
DEFAULT_BASE_URL = "https://api.twilio.com"
WHATSAPP_PREFIX = "whatsapp:"

FormParams = Mapping[str, str | Sequence[str]]

# Twilio's MessageStatus values folded onto ours; the in-flight ones all mean "the provider has it".
_STATUS: dict[str, DeliveryStatus] = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
_INBOUND_STATUSES = {"received", "receiving"}


def compute_signature(url: str, form_params: FormParams, auth_token: str) -> str:
    """The signature Twilio would send for this URL and these parameters."""
    parts = [url]
    for name in sorted(form_params):
        value = form_params[name]
        values = [value] if isinstance(value, str) else sorted(value)
        parts.extend(name + v for v in values)
    digest = hmac.new(auth_token.encode(), "".join(parts).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, plus with/without its default port, since Twilio may sign either form."""
    parts = urlsplit(url)
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if default_port is None or not parts.netloc:
        return variants
    suffix = f":{default_port}"
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=parts.netloc + suffix)))
    elif parts.port == default_port:
        variants.append(urlunsplit(parts._replace(netloc=parts.netloc.removesuffix(suffix))))
    return variants


def verify_signature(
    url: str, form_params: FormParams, signature_header: str | None, auth_token: str
) -> bool:
    """True when ``signature_header`` is Twilio's signature of this request (constant-time compare)."""
    if not signature_header or not auth_token:
        return False
    given = signature_header.strip().encode()
    ok = False
    for candidate in _url_variants(url):
        expected = compute_signature(candidate, form_params, auth_token).encode()
        ok |= hmac.compare_digest(expected, given)
    return ok


def parse_form(raw_body: bytes) -> dict[str, str | list[str]]:
    """Decode a form body, keeping repeated names as lists so the signature still checks."""
    try:
        pairs = parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise WebhookError(400, "malformed_payload", "form body is not UTF-8") from exc
    form: dict[str, str | list[str]] = {}
    for name, value in pairs:
        prior = form.get(name)
        if prior is None:
            form[name] = value
        elif isinstance(prior, list):
            prior.append(value)
        else:
            form[name] = [prior, value]
    return form


def _one(form: FormParams, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, str):
        return value
    return value[0] if value else None


def _required(form: FormParams, name: str) -> str:
    value = _one(form, name)
    if not value:
        raise WebhookError(400, "malformed_payload", f"missing form field {name}")
    return value


def parse_inbound(form: FormParams, received_at: float, default_region: str | None = None) -> InboundMessage:
    """An inbound SMS (or Twilio WhatsApp, ``From: whatsapp:+…``) as an ``InboundMessage``."""
    sender = _required(form, "From")
    sid = _one(form, "MessageSid") or _required(form, "SmsSid")
    via_whatsapp = sender.startswith(WHATSAPP_PREFIX)
    number = normalise_e164(sender.removeprefix(WHATSAPP_PREFIX), default_region)
    return InboundMessage(
        channel="whatsapp" if via_whatsapp else "sms",
        identity_type="whatsapp" if via_whatsapp else "phone",
        identity_value=number,
        name=_one(form, "ProfileName") or None,
        text=_one(form, "Body") or "",
        provider_message_id=sid,
        received_at=received_at,
    )


def parse_status(form: FormParams) -> StatusUpdate:
    """A status callback (``MessageStatus``) as a ``StatusUpdate``."""
    raw = (_one(form, "MessageStatus") or _required(form, "SmsStatus")).lower()
    status = _STATUS.get(raw)
    if status is None:
        raise WebhookError(400, "unknown_status", f"unknown MessageStatus {raw!r}")
    error = None
    if status == "failed":
        code, text = _one(form, "ErrorCode"), _one(form, "ErrorMessage")
        error = " ".join(p for p in (code, text) if p) or raw
    return StatusUpdate(provider_message_id=_required(form, "MessageSid"), status=status, error=error)


def is_status_callback(form: FormParams) -> bool:
    """Status callbacks and inbound messages share one URL shape; the status field tells them apart."""
    status = (_one(form, "MessageStatus") or _one(form, "SmsStatus") or "").lower()
    return bool(status) and status not in _INBOUND_STATUSES


def read_webhook(
    raw_body: bytes,
    headers: Mapping[str, str],
    url: str,
    auth_token: str,
    received_at: float,
    default_region: str | None = None,
) -> WebhookBatch:
    """Verify and parse one Twilio webhook request; raises ``WebhookError`` to refuse it."""
    form = parse_form(raw_body)
    if not verify_signature(url, form, get_header(headers, SIGNATURE_HEADER), auth_token):
        raise WebhookError(403, "invalid_signature", "X-Twilio-Signature does not match")
    if is_status_callback(form):
        return WebhookBatch(statuses=[parse_status(form)])
    return WebhookBatch(messages=[parse_inbound(form, received_at, default_region)])


def build_send(
    account_sid: str,
    auth_token: str,
    from_number: str,
    to: str,
    body: str,
    base_url: str = DEFAULT_BASE_URL,
    status_callback: str | None = None,
) -> OutboundRequest:
    """The Messages API request that sends ``body`` to ``to`` (basic auth AccountSid:AuthToken)."""
    form = {"To": to, "From": from_number, "Body": body}
    if status_callback:
        form["StatusCallback"] = status_callback
    credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
    return OutboundRequest(
        url=f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json",
        headers={"Authorization": f"Basic {credentials}"},
        form=form,
    )


def sent_id(response: Mapping[str, Any]) -> str:
    """The provider message id (``SM…``) from a Messages API response."""
    sid = response.get("sid")
    if not isinstance(sid, str) or not sid:
        raise ValueError("Twilio response has no sid")
    return sid
