"""Turns a queued reply plus the org's channel config into the provider request that sends it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from channels import email, meta, twilio
from channels.config import ChannelConfig
from channels.model import OutboundRequest


class Reply(BaseModel):
    """The outbox payload of an agent reply: what to say and to whom, never credentials."""

    to: str
    text: str
    subject: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class PreparedSend:
    request: OutboundRequest
    # Reads the provider's message id out of its 2xx JSON response.
    read_id: Callable[[Mapping[str, Any]], str]


def email_message_id(org_id: str, outbox_id: int, from_address: str) -> str:
    """Derived from the outbox row so every retry sends the same Message-ID and the relay can dedupe."""
    domain = from_address.rpartition("@")[2] or "switchboard.invalid"
    return f"<sb.{org_id}.{outbox_id}@{domain}>"


def prepare_reply(config: ChannelConfig, reply: Reply, outbox_id: int, now: float) -> PreparedSend:
    """The request for ``reply`` on ``config.channel``; raises ValueError on incomplete config."""
    if config.channel == "sms":
        tw = config.twilio()
        request = twilio.build_send(
            tw.account_sid,
            tw.auth_token,
            tw.from_number,
            reply.to,
            reply.text,
            tw.base_url,
            tw.status_callback,
        )
        return PreparedSend(request, twilio.sent_id)
    if config.channel == "whatsapp":
        wa = config.meta()
        if not wa.phone_number_id:
            raise ValueError("whatsapp config has no phone_number_id")
        request = meta.build_whatsapp_send(
            wa.access_token, wa.phone_number_id, reply.to, reply.text, wa.base_url, wa.version
        )
        return PreparedSend(request, meta.whatsapp_sent_id)
    if config.channel == "messenger":
        fb = config.meta()
        request = meta.build_messenger_send(fb.access_token, reply.to, reply.text, fb.base_url, fb.version)
        return PreparedSend(request, meta.messenger_sent_id)
    mail = config.email()
    message_id = email_message_id(config.org_id, outbox_id, mail.from_address)
    request = email.build_send(
        mail.send_url,
        mail.signing_secret,
        mail.from_address,
        reply.to,
        reply.subject or "",
        reply.text,
        message_id,
        reply.in_reply_to,
        reply.references,
        int(now),
    )
    return PreparedSend(request, lambda _response: message_id)
