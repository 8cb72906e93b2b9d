"""Durable concurrent peaks: the Redis peak per period, copied into PostgreSQL behind the logins.

The seat claim raises the peak in Redis atomically (licensing.seats), and usage reports take the
higher of Redis's and PostgreSQL's peak, so PostgreSQL's copy only matters once Redis is lost. In a
login storm nearly every login raises the peak; the license service's write-behind
(licensing.writebehind) writes the first raise of a quiet period at once and folds the raises of
the next window (1 s) into one write of the highest seen (``persist`` keeps the highest per period).
The write never lowers a stored peak, so processes racing with stale values are harmless.

Losing the window on kill -9 is acceptable: Redis still holds the peak (reports read it), and the
periodic ``LicenseService.record_peaks`` copies Redis's peaks of the current period and day into
PostgreSQL whatever this process managed to write. Only Redis lost together with a process killed
within the same second would lose that second's raise, and Redis lost takes the seats with it anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

# Updates only a higher peak, or the same peak reached earlier: never lowers, skips no-op row versions.
_UPSERT = """
INSERT INTO license_usage (org_id, period_key, peak_concurrent, peak_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[])
ON CONFLICT (org_id, period_key) DO UPDATE SET
    peak_concurrent = EXCLUDED.peak_concurrent, peak_at = EXCLUDED.peak_at, updated_at = now()
WHERE EXCLUDED.peak_concurrent > license_usage.peak_concurrent
   OR (EXCLUDED.peak_concurrent = license_usage.peak_concurrent
       AND EXCLUDED.peak_at < COALESCE(license_usage.peak_at, 'infinity'::timestamptz))
"""


@dataclass(frozen=True)
class PeakLevel:
    """``count`` seats held in period ``period_key`` of ``org_id``, first reached at ``at`` (epoch s)."""

    org_id: str
    period_key: str
    count: int
    at: float


def highest(levels: list[PeakLevel]) -> list[PeakLevel]:
    """The highest level per (org, period), earliest reached on a tie."""
    best: dict[tuple[str, str], PeakLevel] = {}
    for lv in levels:
        key = (lv.org_id, lv.period_key)
        cur = best.get(key)
        if cur is None or (lv.count, -lv.at) > (cur.count, -cur.at):
            best[key] = lv
    return list(best.values())


async def persist(pool: asyncpg.Pool, levels: list[PeakLevel]) -> None:
    """Store the levels in ``license_usage`` in one statement, keeping any higher peak already there."""
    levels = highest(levels)
    if not levels:
        return
    await pool.execute(
        _UPSERT,
        [lv.org_id for lv in levels],
        [lv.period_key for lv in levels],
        [lv.count for lv in levels],
        [datetime.fromtimestamp(lv.at, UTC) for lv in levels],
    )
