"""Business hours in the queue's timezone, holidays, next opening, and auto-reply templates."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from channels.config import QueueHours, is_open, next_opening, render_ack, render_closed

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = QueueHours(
    timezone="Europe/Berlin",
    weekly={
        "mon": [("09:00", "12:00"), ("13:00", "17:00")],
        "tue": [("09:00", "17:00")],
        "wed": [("09:00", "17:00")],
        "thu": [("09:00", "17:00")],
        "fri": [("09:00", "17:00")],
        "sat": [("10:00", "14:00")],
    },
    holidays=[date(2026, 12, 25)],
)


def berlin(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()  # type: ignore[misc]


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo("UTC")).timestamp()  # type: ignore[misc]


def test_open_and_closed_by_local_time() -> None:
    assert not is_open(HOURS, berlin(2026, 12, 23, 8, 59))
    assert is_open(HOURS, berlin(2026, 12, 23, 9, 0))
    assert is_open(HOURS, berlin(2026, 12, 23, 16, 59, 59))
    assert not is_open(HOURS, berlin(2026, 12, 23, 17, 0))


def test_hours_are_read_in_the_queue_timezone_not_utc() -> None:
    # 08:30 UTC in winter is 09:30 in Berlin: open; 16:30 UTC is 17:30 Berlin: closed.
    assert is_open(HOURS, utc(2026, 12, 23, 8, 30))
    assert not is_open(HOURS, utc(2026, 12, 23, 16, 30))


def test_summer_time_shifts_the_utc_opening() -> None:
    # After the DST switch Berlin is UTC+2: 07:00 UTC is 09:00 local.
    assert is_open(HOURS, utc(2026, 3, 30, 7, 0))
    assert not is_open(HOURS, utc(2026, 3, 30, 6, 59))


def test_lunch_break_closes_and_reopens() -> None:
    assert not is_open(HOURS, berlin(2026, 12, 21, 12, 30))
    assert next_opening(HOURS, berlin(2026, 12, 21, 12, 30)) == berlin(2026, 12, 21, 13, 0)


def test_holiday_is_closed_all_day() -> None:
    assert not is_open(HOURS, berlin(2026, 12, 25, 11, 0))


def test_next_opening_skips_the_holiday() -> None:
    # Thursday evening → Friday is a holiday → Saturday 10:00 local.
    assert next_opening(HOURS, berlin(2026, 12, 24, 18, 0)) == berlin(2026, 12, 26, 10, 0)


def test_next_opening_over_the_weekend() -> None:
    assert next_opening(HOURS, berlin(2026, 12, 26, 15, 0)) == berlin(2026, 12, 28, 9, 0)


def test_next_opening_is_now_when_open() -> None:
    ts = berlin(2026, 12, 23, 10, 0)
    assert next_opening(HOURS, ts) == ts


def test_never_open_has_no_next_opening() -> None:
    assert next_opening(QueueHours(timezone="Asia/Tokyo"), 0.0) is None


def test_midnight_end_is_accepted() -> None:
    late = QueueHours(timezone="America/New_York", weekly={"fri": [("18:00", "24:00")]})
    ts = datetime(2026, 12, 25, 23, 59, tzinfo=ZoneInfo("America/New_York")).timestamp()
    assert is_open(late, ts)


@pytest.mark.parametrize(
    "bad",
    [
        {"timezone": "Mars/Olympus"},
        {"weekly": {"monday": [("09:00", "17:00")]}},
        {"weekly": {"mon": [("17:00", "09:00")]}},
        {"weekly": {"mon": [("9am", "5pm")]}},
    ],
)
def test_invalid_hours_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        QueueHours.model_validate(bad)


def test_ack_template_renders_position_and_wait() -> None:
    template = "You are number {position} in line, expected wait {wait} ({wait_minutes} min)."
    assert render_ack(template, 3, 250) == "You are number 3 in line, expected wait 5 minutes (5 min)."
    assert render_ack("{wait}", 1, 20) == "less than a minute"
    assert render_ack("{wait}", 1, 2 * 3600) == "about 2 hours"


def test_ack_template_keeps_unknown_placeholders() -> None:
    assert render_ack("Hi {name}, you are #{position}", 2, None) == "Hi {name}, you are #2"
    assert render_ack("broken {", 2, None) == "broken {"


def test_closed_template_names_the_next_local_opening() -> None:
    text = render_closed("We're closed; back {opens_at} ({timezone}).", HOURS, berlin(2026, 12, 24, 18, 0))
    assert text == "We're closed; back Sat 10:00 (Europe/Berlin)."
