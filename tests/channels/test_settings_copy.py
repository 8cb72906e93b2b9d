"""Each process keeps a copy of every org's channel settings, so any node can verify a webhook while
PostgreSQL is down: read whole at start, then only what changed, changes included."""

from __future__ import annotations

import asyncpg
from channel_fixtures import make_org

from channels.config import ChannelConfig, upsert_channel_config
from channels.settings_copy import ChannelSettingsCopy


def sms(org_id: str, token: str, enabled: bool = True) -> ChannelConfig:
    return ChannelConfig(org_id=org_id, channel="sms", queue="sales", enabled=enabled,
                         provider={"account_sid": "ACfake", "auth_token": token, "from_number": "+14155550000"})


async def test_the_copy_reads_every_org_then_picks_up_changes(pool: asyncpg.Pool, org_id: str) -> None:
    other = org_id + "b"
    for org in (org_id, other):
        await make_org(pool, org)
        await upsert_channel_config(pool, sms(org, f"token-{org}"))
    copy = ChannelSettingsCopy()
    assert await copy.refresh(pool) >= 2  # every org's (the test database holds others too)
    first = copy.get(org_id, "sms")
    assert first is not None and first.twilio().auth_token == f"token-{org_id}"
    assert copy.get(other, "sms") is not None and copy.get(org_id, "whatsapp") is None

    # an admin rotates the token and another suspends the channel: the next read has both
    await upsert_channel_config(pool, sms(org_id, "rotated"))
    await upsert_channel_config(pool, sms(other, f"token-{other}", enabled=False))
    await copy.refresh(pool)
    rotated = copy.get(org_id, "sms")
    assert rotated is not None and rotated.twilio().auth_token == "rotated"
    suspended = copy.get(other, "sms")
    assert suspended is not None and not suspended.enabled
