"""Queue business hours in the queue's own timezone, and the auto-replies that quote them.

Pure functions over ``QueueHours``; a queue with no hours configured is always open.
"""

from __future__ import annotations

import math
import re
import string
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
# Far enough to cross a year of holidays; a queue never opening returns None.
_SEARCH_DAYS = 400


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class QueueHours(BaseModel):
    """Weekly opening intervals (``{"mon": [["09:00", "17:00"]], …}``, end may be ``24:00``) and holidays."""

    timezone: str = "UTC"
    weekly: dict[str, list[tuple[str, str]]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)
    closed_action: Literal["hold", "close"] = "hold"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _valid_intervals(self) -> QueueHours:
        for day, intervals in self.weekly.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
            for start, end in intervals:
                if not _HHMM.match(start) or not _HHMM.match(end) or _minutes(start) >= _minutes(end):
                    raise ValueError(f"bad interval {start}-{end} on {day}; split overnight hours at 24:00")
        return self

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def is_open(hours: QueueHours, ts: float) -> bool:
    """True when ``ts`` falls inside an opening interval of its local weekday and is no holiday."""
    local = datetime.fromtimestamp(ts, hours.zone())
    if local.date() in hours.holidays:
        return False
    minute = local.hour * 60 + local.minute + local.second / 60
    day = WEEKDAYS[local.weekday()]
    return any(_minutes(s) <= minute < _minutes(e) for s, e in hours.weekly.get(day, []))


def next_opening(hours: QueueHours, ts: float) -> float | None:
    """``ts`` itself when open, else when the queue next opens; None if it never does."""
    if is_open(hours, ts):
        return ts
    zone = hours.zone()
    today = datetime.fromtimestamp(ts, zone).date()
    for offset in range(_SEARCH_DAYS):
        day = today + timedelta(days=offset)
        if day in hours.holidays:
            continue
        starts = sorted(_minutes(s) for s, _ in hours.weekly.get(WEEKDAYS[day.weekday()], []))
        for start in starts:
            # Wall-clock fields, so on DST days the queue still opens at the stated local time.
            opening = datetime(day.year, day.month, day.day, start // 60, start % 60, tzinfo=zone).timestamp()
            if opening > ts:
                return opening
    return None


class _KeepUnknown(dict[str, Any]):
    """Leaves ``{unknown}`` placeholders as typed, so an admin's typo shows instead of crashing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _render(template: str, values: dict[str, Any]) -> str:
    try:
        return string.Formatter().vformat(template, (), _KeepUnknown(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


def describe_wait(wait_s: float | None) -> str:
    """A customer-friendly estimate: 'less than a minute', '4 minutes', 'about 2 hours'."""
    if wait_s is None or wait_s < 0:
        return "a few minutes"
    if wait_s < 60:
        return "less than a minute"
    minutes = math.ceil(wait_s / 60)
    if minutes < 90:
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    return f"about {round(minutes / 60)} hours"


def render_ack(template: str, position: int, wait_s: float | None) -> str:
    """Fill ``{position}``, ``{wait}`` (words) and ``{wait_minutes}`` in an acknowledgement template."""
    minutes = math.ceil(wait_s / 60) if wait_s is not None and wait_s >= 0 else None
    return _render(template, {"position": position, "wait": describe_wait(wait_s), "wait_minutes": minutes})


def render_closed(template: str, hours: QueueHours, ts: float) -> str:
    """Fill ``{opens_at}`` (local weekday and time of the next opening) in a closed-hours reply."""
    opening = next_opening(hours, ts)
    if opening is None:
        opens_at = "later"
    else:
        opens_at = datetime.fromtimestamp(opening, hours.zone()).strftime("%a %H:%M")
    return _render(template, {"opens_at": opens_at, "timezone": hours.timezone})
