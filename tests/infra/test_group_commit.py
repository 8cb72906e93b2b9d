"""Group commit: batched writes, but each caller gets its own result, and one bad item fails only its caller."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.groupcommit import GroupCommit


class Store:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()

    async def write(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await self.gate.wait()
        if any(i < 0 for i in items):
            raise ValueError(f"negative in {items}")
        return [i * 10 for i in items]


async def test_items_handed_in_during_a_write_go_together_in_the_next() -> None:
    store = Store()
    group: GroupCommit[int, int] = GroupCommit(store.write)
    first = group.submit(1)
    await asyncio.sleep(0)  # the first write is in flight, held at the gate
    rest = [group.submit(i) for i in range(2, 7)]
    store.gate.set()
    assert await asyncio.gather(first, *rest) == [10, 20, 30, 40, 50, 60]
    assert store.batches == [[1], [2, 3, 4, 5, 6]]


async def test_a_failing_item_fails_only_its_caller() -> None:
    store = Store()
    store.gate.set()
    group: GroupCommit[int, int] = GroupCommit(store.write)
    futs = [group.submit(i) for i in (1, -2, 3)]
    results = await asyncio.gather(*futs, return_exceptions=True)
    assert results[0] == 10 and results[2] == 30
    assert isinstance(results[1], ValueError)
    assert store.batches == [[1, -2, 3], [1], [-2], [3]]  # the batch, then item by item


async def test_batches_are_capped() -> None:
    store = Store()
    store.gate.set()
    group: GroupCommit[int, int] = GroupCommit(store.write, max_batch=2)
    seen: list[int] = []
    group_cb: GroupCommit[int, int] = GroupCommit(store.write, max_batch=2, on_batch=seen.append)
    assert await asyncio.gather(*(group_cb.submit(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert seen == [2, 2, 1]
    assert await group.submit(7) == 70


async def test_a_cancelled_caller_does_not_strand_the_others() -> None:
    store = Store()
    group: GroupCommit[int, int] = GroupCommit(store.write)
    waiter = asyncio.ensure_future(group.submit(1))
    other = group.submit(2)
    await asyncio.sleep(0)
    waiter.cancel()
    store.gate.set()
    assert await other == 20
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await group.close()
