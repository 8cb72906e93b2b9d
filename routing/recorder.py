"""Routing reports to PostgreSQL, in group commits (switchboard/groupcommit.py): under load a
transaction carries dozens of reports, one ``executemany`` per table."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import structlog

from queues import store
from routing.metrics import RECORD_BATCH
from switchboard.db import PG_DOWN
from switchboard.groupcommit import GroupCommit

log = structlog.get_logger(__name__)
MAX_BATCH = 500


class ReportRecorder:
    """Each routing report is committed before its caller returns, in a group commit with the
    reports handed in meanwhile."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._group: GroupCommit[store.RecordedReport, None] = GroupCommit(
            self._write, max_batch=MAX_BATCH, on_batch=RECORD_BATCH.observe
        )

    def submit(self, org_id: str, report: dict[str, Any], now_ms: int) -> asyncio.Future[None]:
        """Hand a report in; the future is done once it is committed (or deferred: PostgreSQL down)."""
        return self._group.submit((org_id, report, now_ms))

    async def _write(self, reports: list[store.RecordedReport]) -> list[None]:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await store.apply_reports(conn, reports)
        except PG_DOWN as e:
            # Redis already holds the change; the reconciler records terminal states later.
            log.warning("record_deferred_postgres_down", reports=len(reports), error=repr(e))
        except Exception:
            if len(reports) == 1:
                log.exception("record_failed", org_id=reports[0][0])
            raise
        return [None] * len(reports)

    async def close(self) -> None:
        """Let the reports already handed in reach PostgreSQL."""
        await self._group.close()
