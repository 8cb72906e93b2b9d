from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from licensing import keys
from licensing.demo import demo_licenses, dev_public_key
from licensing.documents import LicenseError
from licensing.service import LicenseRefused, LicenseService
from switchboard.clock import FrozenClock

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def service(pool, redis, vendor_keys, clock) -> AsyncIterator[LicenseService]:
    svc = LicenseService(pool, redis, vendor_keys[1], clock)
    yield svc
    await svc.close()


async def refused(service: LicenseService, org_id: str, agent_id: str) -> str:
    with pytest.raises(LicenseRefused) as err:
        await service.check_login(org_id, agent_id)
    return err.value.code


def refusals_metric(org_id: str, code: str) -> float:
    return (
        REGISTRY.get_sample_value("switchboard_license_refusals_total", {"org": org_id, "code": code}) or 0.0
    )


async def test_upload_stores_the_document_and_lists_it(service, pool, org, issue):
    text = issue(org, model="named", seats=7)
    lic = await service.upload(org, text, actor="admin@test")
    assert [x.license_id for x in await service.list(org)] == [lic.license_id]
    assert await service.active(org) == [lic]
    assert await pool.fetchval("SELECT document FROM licenses WHERE org_id = $1", org) == text


async def test_upload_of_another_orgs_license_is_refused(service, org, issue):
    with pytest.raises(LicenseError) as err:
        await service.upload(org, issue("someone-else"), actor=None)
    assert err.value.code == "license_wrong_org"
    assert await service.list(org) == []


async def test_upload_twice_keeps_one_license(service, org, issue):
    text = issue(org)
    await service.upload(org, text, actor=None)
    await service.upload(org, text, actor=None)
    assert len(await service.list(org)) == 1


async def test_login_without_any_license_is_refused_as_missing(service, org):
    assert await refused(service, org, "a1") == "license_missing"
    assert refusals_metric(org, "license_missing") == 1


async def test_login_after_every_license_expired_is_refused_as_expired(service, org, issue, clock):
    lic = await service.upload(org, issue(org), actor=None)
    clock.set(lic.valid_until)
    assert await refused(service, org, "a1") == "license_expired"


async def test_upload_makes_logins_possible_at_once(service, org, issue):
    assert await refused(service, org, "a1") == "license_missing"
    await service.upload(org, issue(org), actor=None)
    await service.check_login(org, "a1")


async def test_license_stored_by_another_process_is_seen_after_invalidate(
    service, org, issue, vendor_keys, pool, redis
):
    other = LicenseService(pool, redis, vendor_keys[1], service._clock)
    assert await refused(service, org, "a1") == "license_missing"
    await other.upload(org, issue(org), actor=None)
    service.invalidate(org)
    await service.check_login(org, "a1")


async def test_concurrent_cap_refuses_the_next_agent_until_a_logout(service, org, issue, redis):
    await service.upload(org, issue(org, model="concurrent", seats=2), actor=None)
    await service.check_login(org, "a1")
    await service.check_login(org, "a2")
    await service.check_login(org, "a1")  # a second socket of a seated agent
    assert await refused(service, org, "a3") == "license_concurrent_cap"
    assert await service.logout(org, "a1") is True
    await service.check_login(org, "a3")
    assert REGISTRY.get_sample_value("switchboard_license_seats_in_use", {"org": org}) == 2


async def test_named_refusal_gives_the_concurrent_seat_back(service, org, issue, redis):
    await service.upload(org, issue(org, model="concurrent", seats=5), actor=None)
    await service.upload(org, issue(org, model="named", seats=1), actor=None)
    await service.check_login(org, "a1")
    assert await refused(service, org, "a2") == "license_named_cap"
    assert await redis.hkeys(keys.seats(org)) == ["a1"]


async def test_concurrent_refusal_does_not_count_a_named_agent(service, org, issue, pool):
    await service.upload(org, issue(org, model="concurrent", seats=1), actor=None)
    await service.upload(org, issue(org, model="named", seats=5), actor=None)
    await service.check_login(org, "a1")
    assert await refused(service, org, "a2") == "license_concurrent_cap"
    agents = await pool.fetch("SELECT agent_id FROM license_named_agents WHERE org_id = $1", org)
    assert [r["agent_id"] for r in agents] == ["a1"]


async def test_named_cap_holds_until_the_period_turns_in_the_license_timezone(service, org, issue, clock):
    # Los Angeles: December starts at 08:00 UTC on 1 December.
    await service.upload(org, issue(org, model="named", seats=2, timezone="America/Los_Angeles"), actor=None)
    clock.set(datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    await service.check_login(org, "a1")
    await service.check_login(org, "a2")
    assert await refused(service, org, "a3") == "license_named_cap"
    await service.check_login(org, "a1")
    clock.set(datetime(2026, 12, 1, 7, 59, 59, tzinfo=UTC))
    assert await refused(service, org, "a3") == "license_named_cap"
    clock.set(datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC))
    await service.check_login(org, "a3")
    assert REGISTRY.get_sample_value("switchboard_license_named_agents", {"org": org}) == 1


async def test_seat_changes_and_refusals_are_audited(service, org, issue, pool):
    await service.upload(org, issue(org, model="concurrent", seats=1), actor="vendor-support")
    await service.upload(org, issue(org, model="named", seats=5), actor="vendor-support")
    await service.check_login(org, "a1")
    await service.check_login(org, "a1")
    await refused(service, org, "a2")
    await service.logout(org, "a1")
    rows = await pool.fetch(
        "SELECT agent_id, action, code FROM license_audit WHERE org_id = $1 ORDER BY id", org
    )
    assert [tuple(r) for r in rows] == [
        (None, "license_uploaded", None),
        (None, "license_uploaded", None),
        ("a1", "seat_claimed", None),
        ("a1", "named_counted", None),
        ("a2", "login_refused", "license_concurrent_cap"),
        ("a1", "seat_released", None),
    ]


def by_model(report: dict) -> dict[str, dict]:
    return {lic["model"]: lic for lic in report["licenses"]}


async def test_usage_report_for_a_scripted_month(service, org, issue, clock, redis):
    await service.upload(org, issue(org, model="concurrent", seats=3), actor=None)
    await service.upload(org, issue(org, model="named", seats=6), actor=None)

    def at(day: int, minute: int) -> datetime:
        return datetime(2026, 11, day, 9, minute, tzinfo=UTC)

    script = [
        (at(10, 0), "login", "a"),
        (at(10, 1), "login", "b"),
        (at(10, 2), "logout", "a"),
        (at(10, 3), "login", "c"),
        (at(10, 4), "login", "d"),
        (at(10, 5), "login", "e"),  # refused: three seats held
        (at(10, 6), "logout", "b"),
        (at(10, 6), "logout", "c"),
        (at(10, 6), "logout", "d"),
        (at(11, 0), "login", "f"),
        (at(11, 1), "login", "a"),
    ]
    for when, action, agent in script:
        clock.set(when)
        if action == "logout":
            await service.logout(org, agent)
        elif agent == "e":
            assert await refused(service, org, agent) == "license_concurrent_cap"
        else:
            await service.check_login(org, agent)

    clock.set(at(20, 0))
    report = await service.usage(org, "2026-11")
    concurrent, named = by_model(report)["concurrent"], by_model(report)["named"]
    assert (concurrent["seats"], concurrent["period_key"]) == (3, "2026-11")
    assert concurrent["peak_concurrent"] == 3
    assert concurrent["peak_concurrent_at"] == at(10, 4).isoformat()
    assert concurrent["refusals"] == {"license_concurrent_cap": 1}
    assert concurrent["warning"] == "100%"
    daily = {d["date"]: d for d in concurrent["daily"]}
    assert len(daily) == 30
    assert [daily[f"2026-11-{n}"]["peak_concurrent"] for n in ("09", "10", "11")] == [0, 3, 2]

    assert named["named_count"] == 5
    assert named["refusals"] == {}
    assert named["warning"] == "80%"
    named_daily = {d["date"]: d["named_new"] for d in named["daily"]}
    assert (named_daily["2026-11-10"], named_daily["2026-11-11"], named_daily["2026-11-12"]) == (4, 1, 0)

    assert report["refusals"] == {"license_concurrent_cap": 1}
    assert report["warning"] == "100%"


async def test_usage_peaks_survive_the_loss_of_redis(service, org, issue, clock, redis):
    await service.upload(org, issue(org, model="concurrent", seats=10), actor=None)
    for agent in ("a1", "a2", "a3"):
        await service.check_login(org, agent)
    await service.flush()  # peaks are written behind the logins, within a second
    await redis.delete(keys.seats(org), keys.seat_peak(org, "2026-11"), keys.seat_peak(org, "2026-11-25"))
    report = await service.usage(org, "2026-11")
    assert by_model(report)["concurrent"]["peak_concurrent"] == 3
    assert by_model(report)["concurrent"]["peak_concurrent_at"] == NOW.isoformat()


@pytest.mark.parametrize(("logins", "warning"), [(3, None), (4, "80%"), (5, "100%")])
async def test_concurrent_warning_at_80_and_100_percent(service, org, issue, logins, warning):
    await service.upload(org, issue(org, model="concurrent", seats=5), actor=None)
    for i in range(logins):
        await service.check_login(org, f"a{i}")
    assert (await service.usage(org))["licenses"][0]["warning"] == warning


@pytest.mark.parametrize(("logins", "warning"), [(7, None), (8, "80%"), (10, "100%")])
async def test_named_warning_at_80_and_100_percent(service, org, issue, logins, warning):
    await service.upload(org, issue(org, model="named", seats=10), actor=None)
    for i in range(logins):
        await service.check_login(org, f"a{i}")
        await service.logout(org, f"a{i}")
    assert (await service.usage(org, "2026-11"))["licenses"][0]["warning"] == warning


async def test_usage_without_a_key_reports_each_active_licenses_current_period(service, org, issue, clock):
    await service.upload(
        org, issue(org, model="named", seats=4, period="week", timezone="Asia/Kolkata"), actor=None
    )
    clock.set(datetime(2026, 11, 29, 19, 0, tzinfo=UTC))  # Monday 30 November in Kolkata
    await service.check_login(org, "a1")
    (named,) = (await service.usage(org))["licenses"]
    assert (named["period_key"], named["named_count"], len(named["daily"])) == ("2026-W49", 1, 7)


async def test_usage_skips_licenses_of_another_period_kind(service, org, issue):
    await service.upload(org, issue(org, model="named", period="week"), actor=None)
    assert (await service.usage(org, "2026-11"))["licenses"] == []
    with pytest.raises(ValueError):
        await service.usage(org, "November")


async def test_demo_licenses_upload_as_25_concurrent_and_50_named(pool, redis, org, clock):
    service = LicenseService(pool, redis, dev_public_key(), clock)
    for text in demo_licenses(org, clock.now()):
        await service.upload(org, text, actor="seed")
    active = {lic.model: lic for lic in await service.active(org)}
    assert (active["concurrent"].seats, active["named"].seats) == (25, 50)
    assert active["named"].period == "month" and active["named"].timezone == "UTC"
    assert active["named"].valid_from == NOW - timedelta(days=30)
    await service.check_login(org, "agent1")


async def test_recorded_peaks_cover_days_without_new_logins(service, org, issue, clock):
    await service.upload(org, issue(org, model="concurrent", seats=10), actor=None)
    clock.set(datetime(2026, 11, 10, 23, 0, tzinfo=UTC))
    await service.check_login(org, "a1")
    await service.check_login(org, "a2")
    clock.set(datetime(2026, 11, 11, 9, 0, tzinfo=UTC))
    assert await service.record_peaks(org) == 2
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    daily = {
        d["date"]: d["peak_concurrent"]
        for d in by_model(await service.usage(org, "2026-11"))["concurrent"]["daily"]
    }
    assert (daily["2026-11-10"], daily["2026-11-11"], daily["2026-11-12"]) == (2, 2, 0)


async def test_seat_is_given_back_when_postgres_fails_mid_login(
    database_url, redis, vendor_keys, org, issue, clock
):
    from switchboard.db import create_pool

    own_pool = await create_pool(database_url, min_size=1, max_size=2)
    service = LicenseService(own_pool, redis, vendor_keys[1], clock, cache_ttl_s=60)
    await service.upload(org, issue(org, model="concurrent", seats=5), actor=None)
    await service.upload(org, issue(org, model="named", seats=5), actor=None)
    await service.check_login(org, "a1")
    await own_pool.close()
    with pytest.raises(Exception):  # noqa: B017 - whatever asyncpg raises for a closed pool
        await service.check_login(org, "a2")
    assert await redis.hkeys(keys.seats(org)) == ["a1"]
