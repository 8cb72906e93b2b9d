"""Routing reports to PostgreSQL, in group commits (switchboard/groupcommit.py): under load a
transaction carries dozens of reports, one ``executemany`` per table.

Hooks (integrator events) write in that same transaction, each in a savepoint: what they write
exists iff the reports committed, and a hook that fails loses only its own rows. Reports that find
PostgreSQL down wait in Redis (routing/spool.py) and are written, hooks and all, once it is back."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import asyncpg
import structlog
from redis.exceptions import RedisError

from queues import store
from routing.metrics import RECORD_BATCH, REPORTS_SPOOLED
from routing.spool import ReportSpool
from switchboard.db import PG_DOWN
from switchboard.groupcommit import GroupCommit

log = structlog.get_logger(__name__)
MAX_BATCH = 500
# The parts of a report store.apply_reports writes rows for.
WRITTEN = ("offers", "connected", "ended", "completed", "requeued", "abandoned", "revoked", "decisions")


class ReportHook(Protocol):
    """Rows that must commit with the routing reports they come from (and never stop them)."""

    def wants(self, org_id: str, report: dict[str, Any]) -> bool:
        """Whether a report with nothing of its own to record (agent changes only) may matter here.

        Called for every such report on the routing path: synchronous and cheap."""
        ...

    async def pick(self, reports: list[store.RecordedReport]) -> list[store.RecordedReport]:
        """The reports this hook acts on, chosen before the transaction: none costs no savepoint."""
        ...

    async def write(self, conn: asyncpg.Connection, reports: list[store.RecordedReport]) -> None:
        """Act on the picked reports with the recorder's connection, after their rows are written."""
        ...


class ReportRecorder:
    """Each routing report is committed before its caller returns, in a group commit with the
    reports handed in meanwhile."""

    def __init__(self, pool: asyncpg.Pool, spool: ReportSpool) -> None:
        self.pool = pool
        self.spool = spool
        self.hooks: list[ReportHook] = []
        self._group: GroupCommit[store.RecordedReport, None] = GroupCommit(
            self._write, max_batch=MAX_BATCH, on_batch=RECORD_BATCH.observe
        )

    def add_hook(self, hook: ReportHook) -> None:
        self.hooks.append(hook)

    def hooked(self, org_id: str, report: dict[str, Any]) -> bool:
        """Whether a report with nothing to record must still be submitted, for a hook."""
        return any(hook.wants(org_id, report) for hook in self.hooks)

    def submit(self, org_id: str, report: dict[str, Any], now_ms: int) -> asyncio.Future[None]:
        """Hand a report in; the future is done once it is committed (or deferred: PostgreSQL down)."""
        return self._group.submit((org_id, report, now_ms))

    async def _write(self, reports: list[store.RecordedReport]) -> list[None]:
        try:
            picked = await self._pick(reports)
            if not picked and not any(report.get(k) for _, report, _ in reports for k in WRITTEN):
                return [None] * len(reports)
            async with self.pool.acquire() as conn, conn.transaction():
                await self._apply(conn, reports, picked)
        except PG_DOWN as e:
            # Redis already holds the change. A batch whose COMMIT was under way when the connection
            # died may have committed too: its replay then finds the interactions' rows ahead of it
            # and adds only its events a second time (at least once, never lost).
            await self._defer(reports, e)
        except Exception:
            if len(reports) == 1:
                log.exception("record_failed", org_id=reports[0][0])
            raise
        return [None] * len(reports)

    async def _defer(self, reports: list[store.RecordedReport], error: BaseException) -> None:
        try:
            await self.spool.push(reports)
        except RedisError as e:  # both stores down: the reconciler still records how they end
            REPORTS_SPOOLED.labels("dropped").inc(len(reports))
            log.error("record_lost", reports=len(reports), error=repr(error), spool_error=repr(e))
            return
        log.warning("record_spooled_postgres_down", reports=len(reports), error=repr(error))

    async def _apply(
        self,
        conn: asyncpg.Connection,
        reports: list[store.RecordedReport],
        picked: list[tuple[ReportHook, list[store.RecordedReport]]],
    ) -> None:
        await store.apply_reports(conn, reports)
        await self._write_hooks(conn, picked)

    async def replay_spooled(self, org_id: str) -> int:
        """Write the org's reports that waited in Redis for PostgreSQL; returns how many."""

        async def write(conn: asyncpg.Connection, reports: list[store.RecordedReport]) -> None:
            await self._apply(conn, reports, await self._pick(reports))

        return await self.spool.drain(self.pool, org_id, write)

    async def run_hooks(self, conn: asyncpg.Connection, reports: list[store.RecordedReport]) -> None:
        """The hooks' rows for reports recorded by the caller, in the caller's transaction (the
        reconciler's recovered ends): the same pick and savepoints as the recorder's own batches."""
        await self._write_hooks(conn, await self._pick(reports))

    async def _write_hooks(
        self, conn: asyncpg.Connection, picked: list[tuple[ReportHook, list[store.RecordedReport]]]
    ) -> None:
        for hook, mine in picked:
            await self._run_hook(conn, hook, mine)

    async def _pick(self, reports: list[store.RecordedReport]) -> list[tuple[ReportHook, list[store.RecordedReport]]]:
        picked: list[tuple[ReportHook, list[store.RecordedReport]]] = []
        for hook in self.hooks:
            try:
                mine = await hook.pick(reports)
            except PG_DOWN:  # the reports cannot be written either: they wait in the spool, hooks and all
                raise
            except Exception as e:  # a hook never stops the reports
                log.warning("report_hook_failed", hook=type(hook).__name__, stage="pick", error=repr(e))
                continue
            if mine:
                picked.append((hook, mine))
        return picked

    @staticmethod
    async def _run_hook(conn: asyncpg.Connection, hook: ReportHook, reports: list[store.RecordedReport]) -> None:
        # A savepoint: a failing hook rolls back its own rows, the reports' rows still commit. If the
        # connection itself is gone, the commit after this fails and the batch is deferred as a whole.
        try:
            async with conn.transaction():
                await hook.write(conn, reports)
        except Exception:
            log.exception("report_hook_failed", hook=type(hook).__name__, stage="write", reports=len(reports))

    async def close(self) -> None:
        """Let the reports already handed in reach PostgreSQL."""
        await self._group.close()
