import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensing import keys, seats

T = 1_795_000_000.0


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[list[aioredis.Redis]]:
    """Separate clients with their own connection pools, like separate server processes."""
    made = [aioredis.from_url(redis_url, decode_responses=True) for _ in range(8)]
    yield made
    for c in made:
        await c.aclose()


async def test_claim_takes_a_seat_and_records_the_peak(redis, org_id):
    claim = await seats.claim(redis, org_id, "a1", 2, "2026-11", T)
    assert claim == seats.SeatClaim(ok=True, in_use=1, peak=1, already_held=False, peak_raised=True)
    assert await seats.in_use(redis, org_id) == 1
    assert await seats.peak(redis, org_id, "2026-11") == (1, T)


async def test_claim_by_a_holder_is_idempotent(redis, org_id):
    await seats.claim(redis, org_id, "a1", 1, "2026-11", T)
    again = await seats.claim(redis, org_id, "a1", 1, "2026-11", T + 5)
    assert again.ok and again.already_held and again.in_use == 1
    assert await seats.peak(redis, org_id, "2026-11") == (1, T)


async def test_claim_is_refused_when_all_seats_are_held(redis, org_id):
    await seats.claim(redis, org_id, "a1", 1, "2026-11", T)
    refused = await seats.claim(redis, org_id, "a2", 1, "2026-11", T)
    assert (refused.ok, refused.in_use, refused.peak, refused.already_held) == (False, 1, 1, False)
    assert await seats.holders(redis, org_id) == {"a1"}


async def test_peak_keeps_its_value_and_time_after_releases(redis, org_id):
    for i, agent in enumerate(["a1", "a2", "a3"]):
        await seats.claim(redis, org_id, agent, 5, "2026-11", T + i)
    await seats.release(redis, org_id, "a1")
    await seats.release(redis, org_id, "a2")
    await seats.claim(redis, org_id, "a4", 5, "2026-11", T + 10)
    assert await seats.peak(redis, org_id, "2026-11") == (3, T + 2)


async def test_peak_is_recorded_for_every_period_given(redis, org_id):
    await seats.claim(redis, org_id, "a1", 5, "2026-11", T, also_periods=["2026-11-25"])
    await seats.claim(redis, org_id, "a2", 5, "2026-11", T + 1, also_periods=["2026-11-26"])
    assert await seats.peak(redis, org_id, "2026-11") == (2, T + 1)
    assert await seats.peak(redis, org_id, "2026-11-25") == (1, T)
    assert await seats.peak(redis, org_id, "2026-11-26") == (2, T + 1)


async def test_a_new_period_starts_with_the_seats_already_held(redis, org_id):
    await seats.claim(redis, org_id, "a1", 5, "2026-11", T)
    await seats.claim(redis, org_id, "a2", 5, "2026-11", T)
    again = await seats.claim(redis, org_id, "a1", 5, "2026-12", T + 100)
    assert again.already_held and again.peak == 2 and again.peak_raised


async def test_release_frees_only_a_held_seat(redis, org_id):
    await seats.claim(redis, org_id, "a1", 1, "2026-11", T)
    assert await seats.release(redis, org_id, "a1") is True
    assert await seats.release(redis, org_id, "a1") is False
    assert (await seats.claim(redis, org_id, "a2", 1, "2026-11", T)).ok


async def test_seat_keys_share_the_org_hash_tag(org_id):
    assert keys.seats(org_id).startswith(f"sb:{{{org_id}}}:")
    assert keys.seat_peak(org_id, "2026-11").startswith(f"sb:{{{org_id}}}:")


async def test_200_racing_claims_on_50_seats_admit_exactly_50(clients, org_id):
    agents = [f"agent{i}" for i in range(200)]
    results = await asyncio.gather(
        *(seats.claim(clients[i % len(clients)], org_id, a, 50, "2026-11", T) for i, a in enumerate(agents))
    )
    winners = [a for a, r in zip(agents, results, strict=True) if r.ok]
    assert len(winners) == 50
    assert await seats.holders(clients[0], org_id) == set(winners)
    assert await seats.peak(clients[0], org_id, "2026-11") == (50, T)

    released = await asyncio.gather(
        *(seats.release(clients[i % len(clients)], org_id, a) for i, a in enumerate(winners[:10]))
    )
    assert all(released)
    losers = [a for a in agents if a not in set(winners)]
    second = await asyncio.gather(
        *(seats.claim(clients[i % len(clients)], org_id, a, 50, "2026-11", T) for i, a in enumerate(losers))
    )
    assert sum(r.ok for r in second) == 10
    assert await seats.in_use(clients[0], org_id) == 50


operations = st.lists(
    st.tuples(st.sampled_from(["claim", "release"]), st.integers(min_value=0, max_value=7)), max_size=40
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seat_count=st.integers(min_value=1, max_value=5), ops=operations)
async def test_in_use_never_exceeds_seats_and_counts_distinct_holders(redis, seat_count, ops):
    org_id = f"h{uuid.uuid4().hex[:10]}"
    model: set[str] = set()
    for op, n in ops:
        agent = f"agent{n}"
        if op == "claim":
            result = await seats.claim(redis, org_id, agent, seat_count, "2026-11", T)
            assert result.ok == (agent in model or len(model) < seat_count)
            if result.ok:
                model.add(agent)
        else:
            assert await seats.release(redis, org_id, agent) == (agent in model)
            model.discard(agent)
        current = await seats.in_use(redis, org_id)
        assert current <= seat_count
        assert current == len(model)
        assert await seats.holders(redis, org_id) == model
    await redis.delete(keys.seats(org_id), keys.seat_peak(org_id, "2026-11"))


async def test_peaks_reads_many_periods_at_once(redis, org_id):
    await seats.claim(redis, org_id, "a1", 5, "2026-11", T, also_periods=["2026-11-25"])
    assert await seats.peaks(redis, org_id, ["2026-11", "2026-11-25", "2026-11-26"]) == {
        "2026-11": (1, T),
        "2026-11-25": (1, T),
    }
