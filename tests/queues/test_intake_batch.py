"""Intakes batched into one statement: callers' order kept, customers shared, idempotency kept."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

import asyncpg
from harness import Org

from queues import store
from switchboard.groupcommit import GroupCommit


def _new(org_id: str, phone: str, *, key: str | None = None, name: str | None = None) -> store.NewInteraction:
    return store.NewInteraction(
        id=str(uuid.uuid4()),
        org_id=org_id,
        channel="sms",
        queue="sales",
        priority=None,
        skills={},
        subject=None,
        identity_type="phone",
        identity_value=phone,
        customer_name=name,
        idempotency_key=key,
        created_by="test",
        created_at=datetime.now(UTC),
        first_message="hello",
    )


async def test_one_batch_keeps_order_shares_new_customers_and_honours_keys(pool: asyncpg.Pool, org: Org) -> None:
    key = f"k-{uuid.uuid4().hex}"
    items = [
        _new(org.id, "+15550000009", name="Zed"),
        _new(org.id, "+15550000001", key=key),
        _new(org.id, "+15550000009"),
        _new(org.id, "+15550000001", key=key),  # the same key again: no second interaction
    ]
    out = await store.insert_many(pool, [(n, 8) for n in items])
    rows = [row for row, _ in out]
    assert [r["id"] if r else None for r in rows] == [uuid.UUID(items[i].id) for i in (0, 1, 2)] + [None]
    assert out[0][1].id == out[2][1].id and out[0][1].name == "Zed"  # one new customer, found twice
    assert out[1][1].id == out[3][1].id
    stored = await pool.fetch(
        "SELECT id FROM interactions WHERE org_id=$1 AND id = ANY($2::uuid[])", org.id, [uuid.UUID(n.id) for n in items]
    )
    assert len(stored) == 3
    assert await pool.fetchval(
        "SELECT count(*) FROM customer_identities WHERE org_id=$1 AND value = ANY($2::text[])",
        org.id,
        ["+15550000009", "+15550000001"],
    ) == 2
    assert await pool.fetchval(
        "SELECT count(*) FROM messages WHERE org_id=$1 AND interaction_id = ANY($2::uuid[])",
        org.id,
        [uuid.UUID(n.id) for n in items],
    ) == 3


async def test_concurrent_batches_creating_the_same_customers_do_not_deadlock(pool: asyncpg.Pool, org: Org) -> None:
    # distinct: 300 random 7-digit numbers share one about once in 220 draws, and then 299 customers
    # are right
    phones = [f"+1555{n:07d}" for n in random.sample(range(10**7), 300)]
    group: GroupCommit[store.Intake, store.Inserted] = GroupCommit(
        lambda batch: store.insert_many(pool, batch), max_batch=7
    )
    a = [(_new(org.id, p), 8) for p in phones]
    b = [(_new(org.id, p), 8) for p in reversed(phones)]
    results = await asyncio.gather(
        store.insert_many(pool, a), store.insert_many(pool, b), *(group.submit((_new(org.id, p), 8)) for p in phones)
    )
    customers = {r[1].id for batch in results[:2] for r in batch} | {r[1].id for r in results[2:]}
    assert len(customers) == len(phones)
    assert all(row is not None for batch in results[:2] for row, _ in batch)
