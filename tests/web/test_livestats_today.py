"""Today's per-queue figures for the live tiles and gauges, counted by PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from queues.config import QueueCache
from queues.live_stats import forget_today, today_counts


async def test_today_counts_answered_in_sl_handled_and_abandoned_after_sl(pool, redis, org):
    queues = await QueueCache(pool, redis).queues(org.id)
    assert queues["sales"].service_level_s == 20
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    t = now - timedelta(hours=1)

    def s(seconds: float) -> datetime:
        return t + timedelta(seconds=seconds)

    rows = [
        # queue, state, created, connected, ended
        ("sales", "completed", s(0), s(10), s(100)),  # answered in SL, handled
        ("sales", "wrap_up", s(0), s(15), s(90)),  # answered in SL, not handled yet
        ("sales", "connected", s(0), s(60), None),  # answered after SL
        ("sales", "abandoned", s(0), None, s(5)),  # abandoned within SL
        ("sales", "abandoned", s(0), None, s(30)),  # abandoned after SL
        ("sales", "abandoned", s(0), None, None),  # abandoned, end unknown
        ("sales", "queued", s(0), None, None),  # still waiting: no figure
        ("sales", "completed", s(-86400), s(-86390), s(-86300)),  # yesterday
        ("billing", "completed", s(0), s(40), s(100)),  # answered after SL, handled
        ("gone", "completed", s(0), s(1), s(2)),  # a queue that no longer exists
    ]
    await pool.executemany(
        "INSERT INTO interactions (id, org_id, channel, queue, original_queue, state, priority, created_at,"
        " enqueued_at, connected_at, ended_at) VALUES ($1,$2,'chat',$3,$3,$4,5,$5,$5,$6,$7)",
        [(uuid.uuid4(), org.id, q, st, c, conn, end) for q, st, c, conn, end in rows],
    )
    forget_today(org.id)
    figures = await today_counts(pool, org.id, "UTC", queues, now.timestamp())
    assert set(figures) == {"sales", "billing", "support"}
    assert figures["sales"] == {
        "handled": 1,
        "abandoned": 3,
        "answered": 3,
        "answered_in_sl": 2,
        "abandoned_after_sl": 1,
        "service_level": 2 / (3 + 1),
    }
    assert figures["billing"] == {
        "handled": 1,
        "abandoned": 0,
        "answered": 1,
        "answered_in_sl": 0,
        "abandoned_after_sl": 0,
        "service_level": 0.0,
    }
    assert figures["support"]["answered"] == 0 and figures["support"]["service_level"] is None
