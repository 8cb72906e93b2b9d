"""Provider receipts move message status forward only."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from channel_fixtures import add_message, make_interaction, make_org

from channels.model import StatusUpdate
from channels.receipts import apply_status


async def status_of(pool: asyncpg.Pool, message_id: int) -> str:
    return str(await pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id))


async def test_receipts_advance_but_never_regress(pool: asyncpg.Pool, org_id: str) -> None:
    await make_org(pool, org_id)
    interaction = await make_interaction(pool, org_id, "whatsapp", "whatsapp", "+16505551234")
    message_id = await add_message(pool, org_id, interaction, "agent", "hi", provider_id="wamid.OUT1")

    assert (
        await apply_status(pool, org_id, StatusUpdate(provider_message_id="wamid.OUT1", status="read")) == 1
    )
    assert (
        await apply_status(pool, org_id, StatusUpdate(provider_message_id="wamid.OUT1", status="delivered"))
        == 0
    )
    assert await status_of(pool, message_id) == "read"


async def test_receipts_of_other_orgs_do_not_apply(pool: asyncpg.Pool, org_id: str) -> None:
    await make_org(pool, org_id)
    interaction = await make_interaction(pool, org_id, "sms", "phone", "+14155550199")
    await add_message(pool, org_id, interaction, "agent", "hi", provider_id="SM1")
    assert (
        await apply_status(pool, "someone-else", StatusUpdate(provider_message_id="SM1", status="failed"))
        == 0
    )


async def test_messenger_read_watermark_marks_earlier_replies(pool: asyncpg.Pool, org_id: str) -> None:
    await make_org(pool, org_id)
    interaction = await make_interaction(pool, org_id, "messenger", "messenger", "6783456789012345")
    early = await add_message(
        pool, org_id, interaction, "agent", "one", provider_id="m_1", at=datetime(2026, 1, 1, 10, tzinfo=UTC)
    )
    late = await add_message(
        pool, org_id, interaction, "agent", "two", provider_id="m_2", at=datetime(2026, 1, 1, 12, tzinfo=UTC)
    )
    watermark = datetime(2026, 1, 1, 11, tzinfo=UTC).timestamp()
    update = StatusUpdate(
        provider_message_id=None, status="read", recipient_id="6783456789012345", watermark=watermark
    )
    assert await apply_status(pool, org_id, update) == 1
    assert await status_of(pool, early) == "read"
    assert await status_of(pool, late) == "pending"
