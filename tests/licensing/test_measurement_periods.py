from datetime import UTC, datetime
from itertools import pairwise

import pytest

from licensing.periods import days_of, kind_of_key, parse_period_key, period_at

LA = "America/Los_Angeles"
KOLKATA = "Asia/Kolkata"


def ts(*args: int) -> float:
    """Epoch seconds of a UTC wall time."""
    return datetime(*args, tzinfo=UTC).timestamp()


def test_los_angeles_month_turns_at_local_midnight_not_utc():
    # 1 December 2026 00:00 PST is 08:00 UTC; in UTC it is already December for eight hours.
    assert period_at("month", LA, ts(2026, 12, 1, 7, 59, 59)).key == "2026-11"
    december = period_at("month", LA, ts(2026, 12, 1, 8, 0, 0))
    assert december.key == "2026-12"
    assert december.start.timestamp() == ts(2026, 12, 1, 8)
    assert december.end.timestamp() == ts(2027, 1, 1, 8)


def test_los_angeles_day_turns_at_local_midnight_across_dst():
    # 8 March 2026 is the spring-forward day: it starts in PST (08:00 UTC) and ends in PDT (07:00 UTC).
    assert period_at("day", LA, ts(2026, 3, 8, 7, 59, 59)).key == "2026-03-07"
    day = period_at("day", LA, ts(2026, 3, 8, 8, 0, 0))
    assert day.key == "2026-03-08"
    assert day.end.timestamp() - day.start.timestamp() == 23 * 3600
    assert period_at("day", LA, ts(2026, 3, 9, 6, 59, 59)).key == "2026-03-08"
    assert period_at("day", LA, ts(2026, 3, 9, 7, 0, 0)).key == "2026-03-09"


def test_los_angeles_week_starts_monday_local_midnight():
    # Monday 23 November 2026 00:00 PST = 08:00 UTC.
    assert period_at("week", LA, ts(2026, 11, 23, 7, 59, 59)).key == "2026-W47"
    week = period_at("week", LA, ts(2026, 11, 23, 8, 0, 0))
    assert week.key == "2026-W48"
    assert (week.start.timestamp(), week.end.timestamp()) == (ts(2026, 11, 23, 8), ts(2026, 11, 30, 8))


def test_kolkata_day_turns_at_1830_utc():
    assert period_at("day", KOLKATA, ts(2026, 11, 24, 18, 29, 59)).key == "2026-11-24"
    assert period_at("day", KOLKATA, ts(2026, 11, 24, 18, 30, 0)).key == "2026-11-25"


def test_kolkata_week_starts_sunday_1830_utc():
    assert period_at("week", KOLKATA, ts(2026, 11, 22, 18, 29, 59)).key == "2026-W47"
    assert period_at("week", KOLKATA, ts(2026, 11, 22, 18, 30, 0)).key == "2026-W48"


def test_kolkata_month_turns_before_utc_does():
    assert period_at("month", KOLKATA, ts(2026, 11, 30, 18, 29, 59)).key == "2026-11"
    december = period_at("month", KOLKATA, ts(2026, 11, 30, 18, 30, 0))
    assert december.key == "2026-12"
    assert december.contains(ts(2026, 11, 30, 18, 30)) and not december.contains(ts(2026, 11, 30, 18, 29, 59))


def test_iso_week_key_uses_the_iso_year():
    assert period_at("week", "UTC", ts(2027, 1, 1, 12)).key == "2026-W53"
    assert period_at("week", "UTC", ts(2027, 1, 4, 0)).key == "2027-W01"


@pytest.mark.parametrize(
    ("kind", "key"), [("month", "2026-11"), ("week", "2026-W48"), ("day", "2026-11-25"), ("month", "2026-12")]
)
@pytest.mark.parametrize("tz", [LA, KOLKATA, "UTC"])
def test_parse_period_key_gives_the_period_at_its_start(kind, key, tz):
    period = parse_period_key(kind, key, tz)
    assert period.key == key
    assert period_at(kind, tz, period.start.timestamp()) == period
    assert period_at(kind, tz, period.end.timestamp() - 1) == period
    assert kind_of_key(key) == kind


@pytest.mark.parametrize(
    ("kind", "key"), [("month", "2026-13"), ("month", "2026-W48"), ("week", "2026-W60"), ("day", "x")]
)
def test_parse_period_key_rejects_bad_keys(kind, key):
    with pytest.raises(ValueError):
        parse_period_key(kind, key, "UTC")


def test_days_of_a_month_tile_it_in_its_timezone():
    march = parse_period_key("month", "2026-03", LA)
    days = days_of(march)
    assert [d.key for d in days[:2]] == ["2026-03-01", "2026-03-02"] and len(days) == 31
    assert days[0].start == march.start and days[-1].end == march.end
    assert all(a.end.timestamp() == b.start.timestamp() for a, b in pairwise(days))
