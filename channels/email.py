"""Email through an inbound-parse relay: signed JSON in, signed JSON out, threads by Message-ID.

The relay signs ``"<timestamp>.<raw body>"`` with HMAC-SHA256 in ``X-Switchboard-Signature:
sha256=<hex>`` and sends the Unix time in ``X-Switchboard-Timestamp``; old timestamps are refused so a
captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from email.utils import parseaddr
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from channels.model import InboundMessage, OutboundRequest, WebhookBatch, WebhookError, get_header
from switchboard import jsonwire

SIGNATURE_HEADER = "X-Switchboard-Signature"
TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
MAX_SKEW_S = 300
# A References header grows with every reply; mail clients keep the first and the latest few.
MAX_REFERENCES = 20
_MSGID = re.compile(r"<[^<>\s]+>")


def compute_signature(raw_body: bytes, timestamp: str, secret: str) -> str:
    """``sha256=<hex>`` of ``"<timestamp>.<body>"``: binding the time stops replays of old bodies."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    raw_body: bytes, signature: str | None, timestamp: str | None, secret: str, now: float
) -> None:
    """Raise ``WebhookError`` unless the signature matches and the timestamp is within 5 minutes."""
    if not signature or not timestamp or not secret:
        raise WebhookError(403, "invalid_signature", "missing signature or timestamp")
    try:
        sent_at = int(timestamp.strip())
    except ValueError as exc:
        raise WebhookError(403, "invalid_signature", "timestamp is not an integer") from exc
    expected = compute_signature(raw_body, timestamp.strip(), secret)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise WebhookError(403, "invalid_signature", "X-Switchboard-Signature does not match")
    if abs(now - sent_at) > MAX_SKEW_S:
        raise WebhookError(403, "stale_timestamp", "timestamp is more than 5 minutes from now")


def canonical_message_id(raw: str) -> str:
    """Message-IDs compared as ``<id@host>``; relays differ on whether they keep the brackets."""
    text = raw.strip()
    return text if text.startswith("<") and text.endswith(">") else f"<{text.strip('<>')}>"


def split_references(raw: str | Sequence[str] | None) -> list[str]:
    """A References value (list, or one header string) as canonical Message-IDs, order kept."""
    if not raw:
        return []
    items = [raw] if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in items:
        found = _MSGID.findall(item) or item.split()
        out.extend(canonical_message_id(f) for f in found if f.strip("<> "))
    return out


class InboundEmail(BaseModel):
    """The relay's JSON document."""

    sender: str = Field(alias="from")
    from_name: str | None = None
    to: str | None = None
    subject: str | None = None
    text: str = ""
    message_id: str
    in_reply_to: str | None = None
    references: list[str] | str | None = None


def parse_inbound(payload: Mapping[str, Any], received_at: float) -> InboundMessage:
    """An inbound email as an ``InboundMessage`` whose identity is the lower-cased sender address."""
    try:
        doc = InboundEmail.model_validate(payload)
    except ValueError as exc:
        raise WebhookError(400, "malformed_payload", f"invalid email document: {exc}") from exc
    display, address = parseaddr(doc.sender)
    if "@" not in address:
        raise WebhookError(422, "invalid_email_address", f"not an email address: {doc.sender!r}")
    return InboundMessage(
        channel="email",
        identity_type="email",
        identity_value=address.strip().lower(),
        name=doc.from_name or display or None,
        text=doc.text,
        provider_message_id=canonical_message_id(doc.message_id),
        subject=doc.subject,
        in_reply_to=canonical_message_id(doc.in_reply_to) if doc.in_reply_to else None,
        references=split_references(doc.references),
        received_at=received_at,
    )


def read_webhook(raw_body: bytes, headers: Mapping[str, str], secret: str, now: float) -> WebhookBatch:
    """Verify and parse one inbound-parse POST."""
    verify_signature(
        raw_body, get_header(headers, SIGNATURE_HEADER), get_header(headers, TIMESTAMP_HEADER), secret, now
    )
    try:
        payload = jsonwire.loads(raw_body)  # strict: no lone surrogates, no NaN, no runaway nesting
    except ValueError as exc:
        raise WebhookError(400, "malformed_payload", "body is not JSON") from exc
    if not isinstance(payload, dict):
        raise WebhookError(400, "malformed_payload", "body is not a JSON object")
    return WebhookBatch(messages=[parse_inbound(payload, now)])


def thread_keys(msg: InboundMessage) -> list[str]:
    """Message-IDs that may name the conversation this email answers, nearest parent first."""
    keys: list[str] = []
    for key in [msg.in_reply_to, *reversed(msg.references)]:
        if key and key not in keys:
            keys.append(key)
    return keys


async def find_thread(conn: asyncpg.Connection | asyncpg.Pool, org_id: str, keys: list[str]) -> UUID | None:
    """The email interaction that already holds one of ``keys`` as a sent or received Message-ID."""
    if not keys:
        return None
    row = await conn.fetchrow(
        "SELECT m.interaction_id FROM messages m JOIN interactions i ON i.id = m.interaction_id"
        " WHERE m.org_id = $1 AND m.provider_id = ANY($2::text[]) AND i.channel = 'email'"
        " ORDER BY m.id DESC LIMIT 1",
        org_id,
        keys,
    )
    return row["interaction_id"] if row else None


class EmailThread(BaseModel):
    """The headers a reply needs so the customer's mail client files it under the same conversation."""

    subject: str
    in_reply_to: str | None
    references: list[str]


async def reply_thread(
    conn: asyncpg.Connection | asyncpg.Pool, org_id: str, interaction_id: UUID
) -> EmailThread:
    """Threading for a reply: answers the latest customer email, references every Message-ID so far."""
    subject = await conn.fetchval(
        "SELECT subject FROM interactions WHERE org_id = $1 AND id = $2", org_id, interaction_id
    )
    rows = await conn.fetch(
        "SELECT sender, provider_id FROM messages WHERE org_id = $1 AND interaction_id = $2"
        " AND provider_id IS NOT NULL ORDER BY id",
        org_id,
        interaction_id,
    )
    # Only Message-IDs (``<…>``) belong in headers; other provider ids never name an email.
    mail = [r for r in rows if r["provider_id"].startswith("<")]
    ids = [r["provider_id"] for r in mail]
    customer = [r["provider_id"] for r in mail if r["sender"] == "customer"]
    references = ids if len(ids) <= MAX_REFERENCES else ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return EmailThread(
        subject=reply_subject(subject),
        in_reply_to=customer[-1] if customer else (ids[-1] if ids else None),
        references=references,
    )


def reply_subject(subject: str | None) -> str:
    """``Re: <subject>``, without stacking ``Re: Re:``."""
    text = (subject or "").strip()
    if re.match(r"(?i)^re\s*:", text):
        return text
    return f"Re: {text}" if text else "Re: your message"


def build_send(
    send_url: str,
    signing_secret: str,
    from_address: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    in_reply_to: str | None,
    references: list[str],
    timestamp: int,
) -> OutboundRequest:
    """The signed JSON POST asking the relay to send a reply, signed like inbound so it can verify us."""
    body = json.dumps(
        {
            "from": from_address,
            "to": to,
            "subject": reply_subject(subject),
            "text": text,
            "message_id": message_id,
            "in_reply_to": in_reply_to,
            "references": references,
        },
        separators=(",", ":"),
    ).encode()
    stamp = str(timestamp)
    return OutboundRequest(
        url=send_url,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: compute_signature(body, stamp, signing_secret),
            TIMESTAMP_HEADER: stamp,
        },
        data=body,
    )
