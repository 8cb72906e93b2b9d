"""Per-org channel configuration (provider credentials, target queue, allow-list, auto-replies)
and per-queue business hours, with their PostgreSQL stores.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from channels.hours import QueueHours, is_open, next_opening, render_ack, render_closed
from channels.model import Channel, Db

__all__ = [
    "ChannelConfig",
    "EmailSettings",
    "MetaSettings",
    "QueueHours",
    "TwilioSettings",
    "get_channel_config",
    "get_queue_hours",
    "is_open",
    "list_channel_configs",
    "next_opening",
    "render_ack",
    "render_closed",
    "upsert_channel_config",
    "upsert_queue_hours",
    "webhook_secret",
]

SECRET_FIELDS = frozenset({"auth_token", "app_secret", "verify_token", "access_token", "signing_secret"})


class TwilioSettings(BaseModel):
    account_sid: str
    auth_token: str
    from_number: str
    base_url: str = "https://api.twilio.com"
    status_callback: str | None = None
    # Region for numbers that arrive without a country code.
    default_region: str | None = None


class MetaSettings(BaseModel):
    app_secret: str
    verify_token: str = ""
    access_token: str
    phone_number_id: str = ""
    base_url: str = "https://graph.facebook.com"
    version: str = "v21.0"


class EmailSettings(BaseModel):
    signing_secret: str
    send_url: str
    from_address: str


class ChannelConfig(BaseModel):
    """How one org runs one channel; ``enabled=False`` means suspended (webhooks refused)."""

    org_id: str
    channel: Channel
    queue: str
    enabled: bool = True
    provider: dict[str, Any] = Field(default_factory=dict)
    allowed_countries: list[str] = Field(default_factory=list)
    ack_template: str | None = None
    closed_template: str | None = None

    def twilio(self) -> TwilioSettings:
        return TwilioSettings.model_validate(self.provider)

    def meta(self) -> MetaSettings:
        return MetaSettings.model_validate(self.provider)

    def email(self) -> EmailSettings:
        return EmailSettings.model_validate(self.provider)

    def redacted(self) -> dict[str, Any]:
        """The config for admin screens and logs, secrets masked."""
        provider = {k: ("***" if k in SECRET_FIELDS and v else v) for k, v in self.provider.items()}
        return {**self.model_dump(), "provider": provider}


def webhook_secret(config: ChannelConfig) -> str:
    """The secret the channel's inbound webhooks are signed with."""
    if config.channel == "sms":
        return config.twilio().auth_token
    if config.channel == "email":
        return config.email().signing_secret
    return config.meta().app_secret


async def get_channel_config(db: Db, org_id: str, channel: str) -> ChannelConfig | None:
    row = await db.fetchrow(
        "SELECT * FROM channel_configs WHERE org_id = $1 AND channel = $2", org_id, channel
    )
    return None if row is None else ChannelConfig.model_validate(dict(row))


async def list_channel_configs(db: Db, org_id: str) -> list[ChannelConfig]:
    rows = await db.fetch("SELECT * FROM channel_configs WHERE org_id = $1 ORDER BY channel", org_id)
    return [ChannelConfig.model_validate(dict(r)) for r in rows]


async def upsert_channel_config(db: Db, config: ChannelConfig) -> None:
    await db.execute(
        "INSERT INTO channel_configs (org_id, channel, queue, enabled, provider, allowed_countries,"
        " ack_template, closed_template) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (org_id, channel) DO UPDATE SET queue = EXCLUDED.queue, enabled = EXCLUDED.enabled,"
        " provider = EXCLUDED.provider, allowed_countries = EXCLUDED.allowed_countries,"
        " ack_template = EXCLUDED.ack_template, closed_template = EXCLUDED.closed_template,"
        " updated_at = now()",
        config.org_id,
        config.channel,
        config.queue,
        config.enabled,
        config.provider,
        [c.upper() for c in config.allowed_countries],
        config.ack_template,
        config.closed_template,
    )


async def get_queue_hours(db: Db, org_id: str, queue: str) -> QueueHours | None:
    """The queue's hours, or None when it has none (always open)."""
    row = await db.fetchrow(
        "SELECT timezone, weekly, holidays, closed_action FROM queue_hours WHERE org_id = $1 AND queue = $2",
        org_id,
        queue,
    )
    return None if row is None else QueueHours.model_validate(dict(row))


async def upsert_queue_hours(db: Db, org_id: str, queue: str, hours: QueueHours) -> None:
    await db.execute(
        "INSERT INTO queue_hours (org_id, queue, timezone, weekly, holidays, closed_action)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, queue) DO UPDATE SET"
        " timezone = EXCLUDED.timezone, weekly = EXCLUDED.weekly, holidays = EXCLUDED.holidays,"
        " closed_action = EXCLUDED.closed_action",
        org_id,
        queue,
        hours.timezone,
        {day: [list(i) for i in intervals] for day, intervals in hours.weekly.items()},
        hours.holidays,
        hours.closed_action,
    )
