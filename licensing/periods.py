"""Measurement periods: calendar day, ISO week or month in a license's timezone.

Boundaries are local midnights, so a Los Angeles month ends at 08:00 UTC. All comparisons go through
epoch seconds: aware datetimes sharing one ZoneInfo compare by wall time, which is wrong across DST.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from licensing.documents import PeriodKind

PERIOD_KINDS: tuple[PeriodKind, ...] = ("month", "week", "day")
_KEY_PATTERNS: dict[PeriodKind, re.Pattern[str]] = {
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
    "day": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
}


@dataclass(frozen=True)
class MeasurementPeriod:
    kind: PeriodKind
    key: str
    start: datetime
    end: datetime

    def contains(self, ts: float) -> bool:
        return self.start.timestamp() <= ts < self.end.timestamp()


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    # fold=0 maps a midnight skipped by DST to the transition instant, so periods still tile.
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _first_day(kind: PeriodKind, day: date) -> date:
    if kind == "day":
        return day
    if kind == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_first_day(kind: PeriodKind, first: date) -> date:
    if kind == "day":
        return first + timedelta(days=1)
    if kind == "week":
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _key(kind: PeriodKind, first: date) -> str:
    if kind == "day":
        return first.isoformat()
    if kind == "week":
        iso = first.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return f"{first.year:04d}-{first.month:02d}"


def _period(kind: PeriodKind, first: date, tz: ZoneInfo) -> MeasurementPeriod:
    return MeasurementPeriod(
        kind, _key(kind, first), _midnight(first, tz), _midnight(_next_first_day(kind, first), tz)
    )


def _check_kind(kind: str) -> PeriodKind:
    if kind not in PERIOD_KINDS:
        raise ValueError(f"unknown period kind {kind!r}")
    return kind


def period_at(kind: PeriodKind, tz_name: str, ts: float) -> MeasurementPeriod:
    """The period of ``kind`` containing instant ``ts`` in the calendar of ``tz_name``."""
    kind = _check_kind(kind)
    tz = ZoneInfo(tz_name)
    local_day = datetime.fromtimestamp(ts, tz).date()
    return _period(kind, _first_day(kind, local_day), tz)


def parse_period_key(kind: PeriodKind, key: str, tz: str) -> MeasurementPeriod:
    """The period named ``key`` ("2026-11", "2026-W48", "2026-11-25"); ValueError if it is not one."""
    kind = _check_kind(kind)
    match = _KEY_PATTERNS[kind].match(key)
    if match is None:
        raise ValueError(f"{key!r} is not a {kind} period key")
    parts = [int(p) for p in match.groups()]
    if kind == "week":
        first = date.fromisocalendar(parts[0], parts[1], 1)
    elif kind == "month":
        first = date(parts[0], parts[1], 1)
    else:
        first = date(parts[0], parts[1], parts[2])
    return _period(kind, first, ZoneInfo(tz))


def kind_of_key(key: str) -> PeriodKind:
    """Which kind of period a key names, from its shape; ValueError if none."""
    for kind, pattern in _KEY_PATTERNS.items():
        if pattern.match(key):
            return kind
    raise ValueError(f"{key!r} is not a period key (expected 2026-11, 2026-W48 or 2026-11-25)")


def days_of(period: MeasurementPeriod) -> list[MeasurementPeriod]:
    """The calendar days making up ``period``, in its timezone."""
    tz = period.start.tzinfo
    assert isinstance(tz, ZoneInfo)
    first = period.start.date()
    last = period.end.date()
    return [_period("day", first + timedelta(days=i), tz) for i in range((last - first).days)]
