import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from licensing.named import NamedClaim, claim_named, named_count
from switchboard.db import create_pool

T = 1_795_000_000.0


@pytest.fixture
async def other_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A second pool, as a second server process would have."""
    p = await create_pool(database_url, min_size=1, max_size=10)
    yield p
    await p.close()


async def test_new_agent_is_counted_until_the_cap(pool, org_id):
    assert await claim_named(pool, org_id, "L", "2026-11", "a1", 2, T) == NamedClaim(True, 1, False)
    assert await claim_named(pool, org_id, "L", "2026-11", "a2", 2, T) == NamedClaim(True, 2, False)
    assert await claim_named(pool, org_id, "L", "2026-11", "a3", 2, T) == NamedClaim(False, 2, False)


async def test_counted_agent_is_admitted_when_the_cap_is_full(pool, org_id):
    await claim_named(pool, org_id, "L", "2026-11", "a1", 1, T)
    assert await claim_named(pool, org_id, "L", "2026-11", "a1", 1, T + 60) == NamedClaim(True, 1, True)


async def test_each_period_has_its_own_named_set(pool, org_id):
    await claim_named(pool, org_id, "L", "2026-11", "a1", 1, T)
    assert (await claim_named(pool, org_id, "L", "2026-12", "a2", 1, T)).ok
    assert await named_count(pool, org_id, "L", "2026-11") == 1


async def test_first_login_time_is_kept(pool, org_id):
    await claim_named(pool, org_id, "L", "2026-11", "a1", 3, T)
    await claim_named(pool, org_id, "L", "2026-11", "a1", 3, T + 999)
    at = await pool.fetchval("SELECT first_login_at FROM license_named_agents WHERE org_id = $1", org_id)
    assert at.timestamp() == T


async def test_100_racing_claims_over_two_pools_count_exactly_30(pool, other_pool, org_id):
    pools = [pool, other_pool]
    results = await asyncio.gather(
        *(claim_named(pools[i % 2], org_id, "L", "2026-11", f"agent{i}", 30, T) for i in range(100))
    )
    assert sum(r.ok for r in results) == 30
    assert all(r.count == 30 for r in results if not r.ok)
    assert await named_count(pool, org_id, "L", "2026-11") == 30


async def test_the_same_agent_racing_itself_is_counted_once(pool, other_pool, org_id):
    pools = [pool, other_pool]
    results = await asyncio.gather(
        *(claim_named(pools[i % 2], org_id, "L", "2026-11", "a1", 5, T) for i in range(20))
    )
    assert all(r.ok for r in results)
    assert sum(not r.already_counted for r in results) == 1
    assert await named_count(pool, org_id, "L", "2026-11") == 1
