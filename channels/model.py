"""Channel-neutral shapes every provider parser returns, and the error webhooks raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, Field

Channel = Literal["sms", "whatsapp", "messenger", "email"]
IdentityType = Literal["phone", "whatsapp", "messenger", "email"]
DeliveryStatus = Literal["sent", "delivered", "read", "failed"]
CHANNELS: tuple[Channel, ...] = ("sms", "whatsapp", "messenger", "email")
# Stores take either, so callers can run them inside their own transaction.
Db = asyncpg.Connection | asyncpg.Pool


class InboundMessage(BaseModel):
    """One customer message as the intake sees it, whichever provider carried it."""

    channel: Channel
    identity_type: IdentityType
    identity_value: str
    name: str | None = None
    text: str
    provider_message_id: str
    subject: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    received_at: float


class StatusUpdate(BaseModel):
    """A provider's delivery receipt for a message we sent.

    Messenger reports reads as a watermark for a recipient instead of per message, so then
    ``provider_message_id`` is None and ``recipient_id``/``watermark`` say which messages it covers.
    """

    provider_message_id: str | None
    status: DeliveryStatus
    error: str | None = None
    recipient_id: str | None = None
    watermark: float | None = None


class WebhookBatch(BaseModel):
    """Everything one webhook request carried; providers batch messages and receipts together."""

    messages: list[InboundMessage] = Field(default_factory=list)
    statuses: list[StatusUpdate] = Field(default_factory=list)


class WebhookError(Exception):
    """A webhook the route must refuse: ``status`` is the HTTP status, ``code`` the API error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The API's error envelope, for the route's JSON response."""
        return {"error": {"code": self.code, "message": self.message}}

    def __repr__(self) -> str:
        return f"WebhookError({self.status}, {self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class OutboundRequest:
    """An HTTP POST to a provider, built by a pure function so it can be tested without a network.

    Exactly one of ``json``, ``form`` or ``data`` is set; ``data`` is for bodies that are signed, where
    the bytes sent must be the bytes signed.
    """

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    data: bytes | None = None


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Header lookup that ignores case, for plain dicts as well as aiohttp's multidicts."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None
