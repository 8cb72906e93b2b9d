"""Write-behind of licensing records to PostgreSQL: one writer task per process, one write per window.

A login storm raises the concurrent peak and adds audit rows on nearly every login; a round trip
for each would put PostgreSQL in every login's latency and cost a large share of the server's CPU.
Items handed in here are written by a single task, in the order they came: a deferred item is
written at once if the last write is at least ``window_s`` old, otherwise together with everything
else deferred inside the window, so a quiet floor writes as before and a storm writes once per
window. A committed item is written as soon as the write in flight is done (group commit), and its
caller waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog

from licensing import metrics
from switchboard.db import PG_DOWN

log = structlog.get_logger(__name__)

T = TypeVar("T")


class WriteBehind(Generic[T]):
    def __init__(
        self,
        name: str,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        window_s: float = 1.0,
        max_batch: int = 5000,
        max_retained: int = 50_000,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        """``write`` stores a batch; ``alive`` is False once retrying is pointless (the pool closed)."""
        self.name = name
        self.window_s = window_s
        self._write = write
        self._max_batch = max_batch
        self._max_retained = max_retained
        self._alive = alive
        self._pending: list[tuple[T, asyncio.Future[None] | None]] = []
        self._waiting = 0  # pending items whose caller waits: write them without waiting the window
        self._flushing = False
        self._last_write = -math.inf
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def defer(self, item: T) -> None:
        """Hand ``item`` in; it reaches PostgreSQL within the window (or at ``flush``)."""
        self._pending.append((item, None))
        self._start()

    async def commit(self, item: T) -> None:
        """Write ``item``, with everything deferred before it, and return once it is committed."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._waiting += 1
        self._wake.set()
        self._start()
        await fut

    async def flush(self) -> None:
        """Write everything handed in so far now, and wait for it (a normal shutdown calls this)."""
        self._flushing = True
        self._wake.set()
        if self._pending:
            self._start()  # e.g. the writer was cancelled with items still pending
        try:
            while self._writer is not None and not self._writer.done():
                # shielded: a flush that is cancelled must not strand the others' items
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._writer)
        finally:
            self._flushing = False

    def _start(self) -> None:
        if self._writer is None or self._writer.done():
            # a task of its own, so a cancelled caller never strands the others' items
            self._writer = asyncio.create_task(self._run(), name=f"write-behind-{self.name}")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backlog = False  # the last batch was full: the rest goes now, not a window later
        while self._pending:
            due = self._last_write + self.window_s - loop.time()
            if due > 0 and not (backlog or self._waiting or self._flushing):
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), due)
                continue
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            backlog = len(batch) == self._max_batch
            self._waiting -= sum(1 for _, fut in batch if fut is not None)
            self._last_write = loop.time()
            try:
                await self._write([item for item, _ in batch])
            except Exception as e:
                self._failed(batch, e)
                continue
            for _, fut in batch:
                if fut is not None and not fut.done():
                    fut.set_result(None)

    def _failed(self, batch: list[tuple[T, asyncio.Future[None] | None]], error: Exception) -> None:
        """Waiting callers get the error; deferred items are tried again after the window if that can help."""
        for _, fut in batch:
            if fut is not None and not fut.done():
                fut.set_exception(error)
        deferred = [(item, None) for item, fut in batch if fut is None]
        if not deferred:
            return
        retry = (
            isinstance(error, PG_DOWN)
            and not self._flushing
            and self._alive()
            and len(self._pending) + len(deferred) <= self._max_retained
        )
        if retry:
            self._pending[:0] = deferred
            log.warning("write_behind_retry", name=self.name, items=len(deferred), error=repr(error))
        else:
            metrics.WRITES_DROPPED.labels(self.name).inc(len(deferred))
            log.error("write_behind_dropped", name=self.name, items=len(deferred), error=repr(error))
