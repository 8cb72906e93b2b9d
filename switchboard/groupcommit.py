"""Group commit: what callers hand in while one write is in flight goes together in the next.

Each caller still waits for its own item to be written (and gets its own result or error), but
under load one PostgreSQL round trip and one commit carry dozens of items instead of one each;
on a quiet floor an item is written at once, as before. A batch that fails is retried item by
item, so one bad item fails only its own caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 500,
        on_batch: Callable[[int], object] | None = None,
    ) -> None:
        """``write`` takes a batch and returns one result per item, in order, or raises."""
        self._write = write
        self.max_batch = max_batch
        self._on_batch = on_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    def submit(self, item: T) -> asyncio.Future[R]:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        if self._writer is None or self._writer.done():
            # a task of its own, so a cancelled caller never strands the others' items
            self._writer = asyncio.create_task(self._drain())
        return fut

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            if self._on_batch is not None:
                self._on_batch(len(batch))
            items = [item for item, _ in batch]
            try:
                outcome: list[R | BaseException] = list(await self._write(items))
            except Exception as e:
                outcome = await self._one_by_one(items) if len(items) > 1 else [e]
            for (_, fut), result in zip(batch, outcome, strict=True):
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)

    async def _one_by_one(self, items: list[T]) -> list[R | BaseException]:
        out: list[R | BaseException] = []
        for item in items:
            try:
                out.extend(await self._write([item]))
            except Exception as e:
                out.append(e)
        return out

    async def close(self) -> None:
        """Let the items already handed in be written."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
