"""Group commit of routing reports to PostgreSQL.

Every caller still waits until its report is committed, but the reports that arrive while one
transaction is in flight are written together in the next: under load a transaction carries
dozens of reports (one ``executemany`` per table) instead of one each, and when the floor is
quiet a report is written at once, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog

from queues import store
from routing.metrics import RECORD_BATCH

log = structlog.get_logger(__name__)
MAX_BATCH = 500
PG_DOWN = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InternalClientError,
)
Pending = tuple[store.RecordedReport, "asyncio.Future[None]"]


class ReportRecorder:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._pending: list[Pending] = []
        self._writer: asyncio.Task[None] | None = None

    def submit(self, org_id: str, report: dict[str, Any], now_ms: int) -> asyncio.Future[None]:
        """Hand a report in; the future is done once it is committed (or deferred: PostgreSQL down)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(((org_id, report, now_ms), fut))
        if self._writer is None or self._writer.done():
            # a task of its own, so a cancelled caller never strands the others' reports
            self._writer = asyncio.create_task(self._drain())
        return fut

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            RECORD_BATCH.observe(len(batch))
            try:
                await self._write([r for r, _ in batch])
                outcome: list[BaseException | None] = [None] * len(batch)
            except PG_DOWN as e:
                # Redis already holds the change; the reconciler records terminal states later.
                log.warning("record_deferred_postgres_down", reports=len(batch), error=repr(e))
                outcome = [None] * len(batch)
            except Exception:
                outcome = await self._one_by_one([r for r, _ in batch])
            for (_, fut), exc in zip(batch, outcome, strict=True):
                if fut.done():
                    continue
                if exc is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(exc)

    async def _write(self, reports: list[store.RecordedReport]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await store.apply_reports(conn, reports)

    async def _one_by_one(self, reports: list[store.RecordedReport]) -> list[BaseException | None]:
        """A batch that failed is retried report by report, so one bad report fails only its caller."""
        out: list[BaseException | None] = []
        for r in reports:
            try:
                await self._write([r])
                out.append(None)
            except PG_DOWN as e:
                log.warning("record_deferred_postgres_down", reports=1, error=repr(e))
                out.append(None)
            except Exception as e:
                log.exception("record_failed", org_id=r[0])
                out.append(e)
        return out

    async def close(self) -> None:
        """Let the reports already handed in reach PostgreSQL."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
