"""Channel configuration and queue hours round-trip through PostgreSQL."""

from __future__ import annotations

from datetime import date

import asyncpg

from channels.config import (
    ChannelConfig,
    QueueHours,
    get_channel_config,
    get_queue_hours,
    list_channel_configs,
    upsert_channel_config,
    upsert_queue_hours,
    webhook_secret,
)


async def make_org(pool: asyncpg.Pool, org_id: str) -> None:
    await pool.execute("INSERT INTO orgs(id, name) VALUES ($1, $1)", org_id)


async def test_channel_config_round_trip_and_update(pool: asyncpg.Pool, org_id: str) -> None:
    await make_org(pool, org_id)
    config = ChannelConfig(
        org_id=org_id,
        channel="sms",
        queue="support",
        provider={"account_sid": "AC1", "auth_token": "tok", "from_number": "+14155550100"},
        allowed_countries=["us", "CA"],
        ack_template="You are #{position}",
    )
    await upsert_channel_config(pool, config)
    loaded = await get_channel_config(pool, org_id, "sms")
    assert loaded is not None
    assert loaded.twilio().auth_token == "tok"
    assert loaded.allowed_countries == ["US", "CA"]
    assert webhook_secret(loaded) == "tok"
    assert loaded.redacted()["provider"]["auth_token"] == "***"

    await upsert_channel_config(pool, config.model_copy(update={"enabled": False, "queue": "sales"}))
    suspended = await get_channel_config(pool, org_id, "sms")
    assert suspended is not None and (suspended.enabled, suspended.queue) == (False, "sales")
    assert [c.channel for c in await list_channel_configs(pool, org_id)] == ["sms"]
    assert await get_channel_config(pool, org_id, "email") is None


async def test_queue_hours_round_trip(pool: asyncpg.Pool, org_id: str) -> None:
    await make_org(pool, org_id)
    hours = QueueHours(
        timezone="Europe/Berlin",
        weekly={"mon": [("09:00", "17:00")]},
        holidays=[date(2026, 12, 25)],
        closed_action="close",
    )
    assert await get_queue_hours(pool, org_id, "support") is None
    await upsert_queue_hours(pool, org_id, "support", hours)
    assert await get_queue_hours(pool, org_id, "support") == hours
