"""Peaks and audit rows written behind the logins: caps unchanged, nothing lost on close, never lowered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from harness import Org, connect_agent, login_token

from licensing import peaks, seats
from licensing.peaks import PeakLevel
from licensing.service import LicenseRefused, LicenseService
from licensing.writebehind import WriteBehind
from switchboard.clock import FrozenClock, SystemClock
from switchboard.db import create_pool
from switchboard.demo import seed_org

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def two_processes(
    database_url: str, redis_url: str, vendor_keys: tuple[bytes, bytes], clock: FrozenClock
) -> AsyncIterator[list[LicenseService]]:
    """Two services with their own pools and Redis clients, as two server processes have."""
    pools = [await create_pool(database_url, min_size=1, max_size=5) for _ in range(2)]
    clients = [aioredis.from_url(redis_url, decode_responses=True) for _ in range(2)]
    made = [LicenseService(p, r, vendor_keys[1], clock) for p, r in zip(pools, clients, strict=True)]
    yield made
    for svc in made:
        await svc.close()
    for p in pools:
        await p.close()
    for r in clients:
        await r.aclose()


async def attempt(svc: LicenseService, org_id: str, agent_id: str) -> str | None:
    """None if admitted, else the refusal code."""
    try:
        await svc.check_login(org_id, agent_id)
    except LicenseRefused as e:
        return e.code
    return None


async def audit_count(pool: asyncpg.Pool, org_id: str, action: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM license_audit WHERE org_id = $1 AND action = $2", org_id, action)
    )


async def stored_peak(pool: asyncpg.Pool, org_id: str, period_key: str) -> tuple[int, datetime | None] | None:
    row = await pool.fetchrow(
        "SELECT peak_concurrent, peak_at FROM license_usage WHERE org_id = $1 AND period_key = $2", org_id, period_key
    )
    return None if row is None else (int(row["peak_concurrent"]), row["peak_at"])


# -- the service, two processes' worth -------------------------------------------------------------


async def test_a_storm_over_the_cap_admits_exactly_the_seats_and_audits_every_refusal(
    two_processes, org, issue, pool, redis
):
    a, b = two_processes
    await a.upload(org, issue(org, model="concurrent", seats=20), actor=None)
    codes = await asyncio.gather(*(attempt((a, b)[i % 2], org, f"agent{i}") for i in range(70)))
    assert codes.count(None) == 20
    assert set(codes) == {None, "license_concurrent_cap"}
    assert await seats.in_use(redis, org) == 20
    # refusals are written before the refused login returns, not behind it
    assert await audit_count(pool, org, "login_refused") == 50
    for svc in two_processes:
        await svc.close()
    assert await audit_count(pool, org, "seat_claimed") == 20


async def test_the_recorded_peak_after_a_burst_is_the_true_max_with_two_processes_racing(
    two_processes, org, issue, pool, redis, clock
):
    a, b = two_processes
    await a.upload(org, issue(org, model="concurrent", seats=100), actor=None)
    await asyncio.gather(*(attempt((a, b)[i % 2], org, f"agent{i}") for i in range(45)))
    # a later, lower level must not lower what either process stored
    await asyncio.gather(*(a.logout(org, f"agent{i}") for i in range(20)))
    await asyncio.gather(*(attempt((a, b)[i % 2], org, f"late{i}") for i in range(10)))
    for svc in two_processes:
        await svc.close()
    assert await seats.in_use(redis, org) == 35
    assert await seats.peak(redis, org, "2026-11") == (45, NOW.timestamp())
    assert await stored_peak(pool, org, "2026-11") == (45, NOW)
    assert await stored_peak(pool, org, "2026-11-25") == (45, NOW)


async def test_a_stale_lower_peak_written_late_never_lowers_the_stored_one(pool, org):
    t = NOW.timestamp()
    await peaks.persist(pool, [PeakLevel(org, "2026-11", 45, t + 60)])
    await peaks.persist(pool, [PeakLevel(org, "2026-11", 30, t + 120)])  # a process flushing late
    assert await stored_peak(pool, org, "2026-11") == (45, datetime.fromtimestamp(t + 60, UTC))
    # the same peak seen earlier (Redis's first-reached time, copied by record_peaks) wins the tie
    await peaks.persist(pool, [PeakLevel(org, "2026-11", 45, t), PeakLevel(org, "2026-11", 44, t - 5)])
    assert await stored_peak(pool, org, "2026-11") == (45, NOW)


async def test_a_peak_reaches_postgresql_within_the_window_without_close(service_pair_window, org, issue, pool):
    svc, window = service_pair_window
    await svc.upload(org, issue(org, model="concurrent", seats=50), actor=None)
    started = time.monotonic()
    for i in range(10):
        await svc.check_login(org, f"agent{i}")
    while (await stored_peak(pool, org, "2026-11") or (0, None))[0] < 10 or await audit_count(
        pool, org, "seat_claimed"
    ) < 10:
        assert time.monotonic() - started < window + 1.5, "peak or audit rows not written within the window"
        await asyncio.sleep(0.05)


@pytest.fixture
async def service_pair_window(pool, redis, vendor_keys, clock) -> AsyncIterator[tuple[LicenseService, float]]:
    window = 0.5
    svc = LicenseService(pool, redis, vendor_keys[1], clock, write_window_s=window)
    yield svc, window
    await svc.close()


async def test_audit_rows_held_behind_all_land_on_close(pool, redis, vendor_keys, clock, org, issue):
    # A window no test waits out: only close() can have written the rows.
    svc = LicenseService(pool, redis, vendor_keys[1], clock, write_window_s=60)
    await svc.upload(org, issue(org, model="concurrent", seats=50), actor=None)
    await svc.upload(org, issue(org, model="named", seats=50), actor=None)
    await asyncio.gather(*(svc.check_login(org, f"agent{i}") for i in range(30)))
    assert await audit_count(pool, org, "seat_claimed") < 30
    await svc.close()
    assert await audit_count(pool, org, "seat_claimed") == 30
    assert await audit_count(pool, org, "named_counted") == 30
    assert await pool.fetchval("SELECT count(*) FROM license_named_agents WHERE org_id = $1", org) == 30


async def test_named_agents_are_durable_before_the_login_returns(pool, redis, vendor_keys, clock, org, issue):
    svc = LicenseService(pool, redis, vendor_keys[1], clock, write_window_s=60)
    await svc.upload(org, issue(org, model="named", seats=3), actor=None)
    for i in range(3):
        await svc.check_login(org, f"agent{i}")
        assert await pool.fetchval("SELECT count(*) FROM license_named_agents WHERE org_id = $1", org) == i + 1
    with pytest.raises(LicenseRefused) as err:
        await svc.check_login(org, "agent3")
    assert err.value.code == "license_named_cap"
    await svc.close()


async def test_periodic_record_peaks_recovers_a_peak_a_killed_process_held_behind(
    database_url, pool, redis, vendor_keys, clock, org, issue
):
    own_pool = await create_pool(database_url, min_size=1, max_size=2)
    doomed = LicenseService(own_pool, redis, vendor_keys[1], clock, write_window_s=60)
    await doomed.upload(org, issue(org, model="concurrent", seats=50), actor=None)
    for i in range(5):
        await doomed.check_login(org, f"agent{i}")
    # the first raise of a quiet period is written at once, the others are held for the window
    deadline = time.monotonic() + 3
    while await stored_peak(pool, org, "2026-11") is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert await stored_peak(pool, org, "2026-11") == (1, NOW)
    own_pool.terminate()  # kill -9: the raises held behind die with the process

    survivor = LicenseService(pool, redis, vendor_keys[1], clock)
    clock.set(datetime(2026, 11, 25, 12, 1, tzinfo=UTC))
    assert await survivor.record_peaks(org) == 5
    assert await stored_peak(pool, org, "2026-11") == (5, NOW)
    assert await stored_peak(pool, org, "2026-11-25") == (5, NOW)
    await survivor.close()


# -- the write-behind itself (no PostgreSQL: the timing rules) ----------------------------------------


class Sink:
    """Batches as written, with when they were written."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.at: list[float] = []
        self.failures = 0  # the next writes that fail as if PostgreSQL were down

    async def write(self, items: list[int]) -> None:
        await asyncio.sleep(0.01)
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("down")
        self.batches.append(items)
        self.at.append(time.monotonic())


async def until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_the_first_item_of_a_quiet_period_is_written_at_once_the_rest_once_per_window():
    sink = Sink()
    writer = WriteBehind("test", sink.write, window_s=1.0)
    writer.defer(0)
    await until(lambda: sink.batches == [[0]], timeout=0.5)
    for i in range(1, 50):
        writer.defer(i)
    await asyncio.sleep(0.2)
    assert sink.batches == [[0]]  # held for the rest of the window
    await until(lambda: len(sink.batches) == 2)
    assert sink.batches[1] == list(range(1, 50))
    assert sink.at[1] - sink.at[0] >= 0.9


async def test_a_backlog_beyond_one_batch_is_written_without_waiting_another_window():
    sink = Sink()
    writer = WriteBehind("test", sink.write, window_s=1.0, max_batch=3)
    writer.defer(0)
    await until(lambda: sink.batches == [[0]])
    for i in range(1, 8):
        writer.defer(i)
    await until(lambda: len(sink.batches) == 4)
    assert sink.batches == [[0], [1, 2, 3], [4, 5, 6], [7]]
    assert sink.at[3] - sink.at[1] < 0.5


async def test_a_committed_item_is_written_at_once_after_the_deferred_ones():
    sink = Sink()
    writer = WriteBehind("test", sink.write, window_s=30)
    writer.defer(0)
    await until(lambda: sink.batches == [[0]])
    writer.defer(1)
    writer.defer(2)
    await asyncio.wait_for(writer.commit(3), 1)
    assert sink.batches == [[0], [1, 2, 3]]


async def test_flush_writes_what_is_held_behind_now():
    sink = Sink()
    writer = WriteBehind("test", sink.write, window_s=30)
    writer.defer(0)
    await until(lambda: sink.batches == [[0]])
    writer.defer(1)
    await asyncio.wait_for(writer.flush(), 1)
    assert sink.batches == [[0], [1]]
    assert writer.pending == 0


async def test_deferred_items_are_retried_while_postgresql_is_down_and_a_waiting_caller_sees_the_error():
    sink = Sink()
    writer = WriteBehind("test", sink.write, window_s=0.3)
    sink.failures = 2
    writer.defer(0)
    await until(lambda: sink.failures == 1)
    await asyncio.sleep(0.02)
    assert sink.batches == [] and writer.pending == 1
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(writer.commit(1), 1)
    await until(lambda: sink.batches == [[0]])
    await asyncio.sleep(0.4)
    assert sink.batches == [[0]]


# -- through the web API ---------------------------------------------------------------------------


@pytest.fixture
async def web_org(server, pool, redis, org_id) -> Org:
    users = await seed_org(pool, redis, SystemClock(), org_id, email_domain=f"{org_id}.test", api_key=f"key-{org_id}")
    return Org(org_id, str(server.make_url("")).rstrip("/"), f"key-{org_id}", users, f"{org_id}.test")


async def test_a_peak_raise_is_in_the_usage_report_at_once_and_in_postgresql_within_the_window(web_org, pool):
    async with aiohttp.ClientSession() as http:
        admin = await login_token(http, web_org, "admin")
        clients = []
        for local in ("agent1", "agent2"):
            sio, refused = await connect_agent(web_org.base, await login_token(http, web_org, local))
            assert refused is None
            clients.append(sio)
        started = time.monotonic()
        async with http.get(
            f"{web_org.base}/api/v1/licenses/usage", headers={"Authorization": f"Bearer {admin}"}
        ) as r:
            assert r.status == 200
            report = await r.json()
        (concurrent,) = [lic for lic in report["licenses"] if lic["model"] == "concurrent"]
        assert concurrent["peak_concurrent"] == 2
        period = concurrent["period_key"]
        while (await stored_peak(pool, web_org.id, period) or (0, None))[0] < 2:
            assert time.monotonic() - started < 2.5, "peak not in PostgreSQL within the 1 s window"
            await asyncio.sleep(0.05)
        for c in clients:
            await c.disconnect()

