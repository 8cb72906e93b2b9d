"""15-minute interval statistics per queue and per agent, as pure functions over event records.

Each measure is counted in the interval in which its event happened: offered when the
interaction enters the queue, answered and speed of answer when it connects, abandoned when it
is abandoned, handle time when the conversation ends, wrap-up time when it is completed, RONA
when the offer times out.

Definitions (the same everywhere the figures are shown):

- *offered*: interactions entering the queue — created in it, overflowed or moved into it from
  another queue, or transferred into it after a conversation. A RONA or a rejected offer puts
  the interaction back at its place; that is not a new entry.
- *speed of answer*: connect time minus the interaction's ``enqueued_at`` (kept across RONA,
  reject and overflow, as the customer kept waiting); after a transfer, minus the moment it was
  transferred, since that leg's wait starts there.
- *answered_in_sl*: answered with a speed of answer of at most the queue's ``service_level_s``.
- *service_level*: ``answered_in_sl / (answered + abandoned_after_sl)`` — the live dashboard's
  definition (``queues.live_stats.service_level``), so history and the live tile agree.
  Interactions abandoned within the threshold do not count against the queue.
- *handle time*: connected → ended of one agent leg; *wrap-up*: ended → completed.
- *occupancy* (agents): seconds of the interval during which the agent held at least one
  connected or wrapping-up interaction, divided by the seconds of the interval that have
  passed. Logged-in time is not in the event record, so the whole interval is the denominator;
  overlapping chats count once (time with ≥ 1 open interaction, not the sum of handle times).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

INTERVAL = timedelta(minutes=15)
DEFAULT_SERVICE_LEVEL_S = 20


@dataclass(frozen=True)
class Event:
    """One row of the ``events`` table; ``seq`` (the row id) orders events with equal times."""

    at: datetime
    kind: str
    interaction_id: str
    agent_id: str | None = None
    queue: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0


@dataclass
class QueueFigures:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    abandoned_after_sl: int = 0
    answered_in_sl: int = 0
    answer_s_total: float = 0.0
    handled: int = 0
    handle_s_total: float = 0.0
    wrapped: int = 0
    wrap_s_total: float = 0.0
    rona: int = 0

    def as_json(self) -> dict[str, Any]:
        """Counts and sums (so intervals can be added up later) plus the derived averages."""
        return {
            **_counts(self),
            "service_level": _ratio(self.answered_in_sl, self.answered + self.abandoned_after_sl),
            "asa_s": _mean(self.answer_s_total, self.answered),
            "aht_s": _mean(self.handle_s_total, self.handled),
            "avg_wrap_s": _mean(self.wrap_s_total, self.wrapped),
        }


@dataclass
class AgentFigures:
    offered: int = 0
    answered: int = 0
    rona: int = 0
    handled: int = 0
    handle_s_total: float = 0.0
    wrapped: int = 0
    wrap_s_total: float = 0.0
    busy_s: float = 0.0
    interval_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            **_counts(self),
            "aht_s": _mean(self.handle_s_total, self.handled),
            "avg_wrap_s": _mean(self.wrap_s_total, self.wrapped),
            "occupancy": round(self.busy_s / self.interval_s, 4) if self.interval_s > 0 else None,
        }

    def active(self) -> bool:
        return bool(self.offered or self.answered or self.rona or self.handled or self.wrapped or self.busy_s)


@dataclass
class IntervalReport:
    """Figures keyed by (interval start in the report's time zone, queue name or agent id)."""

    queues: dict[tuple[datetime, str], QueueFigures] = field(default_factory=dict)
    agents: dict[tuple[datetime, str], AgentFigures] = field(default_factory=dict)


def _counts(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = round(v, 3) if isinstance(v, float) else v
    return out


def _mean(total: float, n: int) -> float | None:
    return round(total / n, 2) if n else None


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def interval_start(at: datetime, tz: tzinfo) -> datetime:
    """Start of the 15-minute interval holding ``at``, on the local clock of ``tz``."""
    local = at.astimezone(tz)
    return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)


def interval_starts(since: datetime, until: datetime, tz: tzinfo) -> list[datetime]:
    """Every interval start from the one holding ``since`` up to (excluding) ``until``."""
    out = []
    t = interval_start(since, tz).astimezone(UTC)
    while t < until:
        out.append(t.astimezone(tz))
        t += INTERVAL
    return out


@dataclass
class _Leg:
    """One agent's conversation on an interaction, from connect to completion."""

    agent: str
    queue: str
    connected: datetime
    ended: datetime | None = None


@dataclass
class _Track:
    """What the walk through one interaction's events knows so far."""

    queue: str | None = None
    entered: datetime | None = None
    offer_queue: str | None = None
    leg: _Leg | None = None
    after_transfer: bool = False


class _Tally:
    def __init__(self, tz: tzinfo, lo: datetime, hi: datetime) -> None:
        self.tz = tz
        self.lo = lo
        self.hi = hi
        self.report = IntervalReport()

    def _slot(self, at: datetime) -> datetime | None:
        return interval_start(at, self.tz) if self.lo <= at < self.hi else None

    def queue(self, at: datetime, name: str | None) -> QueueFigures | None:
        slot = self._slot(at)
        if slot is None or name is None:
            return None
        return self.report.queues.setdefault((slot, name), QueueFigures())

    def agent(self, at: datetime, agent_id: str | None) -> AgentFigures | None:
        slot = self._slot(at)
        if slot is None or agent_id is None:
            return None
        return self.report.agents.setdefault((slot, agent_id), AgentFigures())


def compute_intervals(
    events: Iterable[Event],
    *,
    tz: tzinfo,
    since: datetime,
    until: datetime,
    service_levels: Mapping[str, int] | None = None,
    enqueued_at: Mapping[str, datetime] | None = None,
    now: datetime | None = None,
) -> IntervalReport:
    """Interval figures for the intervals from the one holding ``since`` up to ``until``.

    ``events`` should hold the whole history of every interaction touched in that window (earlier
    events give the connect time of a conversation that ends inside it); only the window's
    intervals are reported. ``enqueued_at`` supplies the interactions' enqueue times when their
    ``created`` event is not among ``events``; ``now`` bounds conversations still open (default
    ``until``).
    """
    sl = service_levels or {}
    enq = enqueued_at or {}
    now = now or until
    lo = interval_start(since, tz).astimezone(UTC)
    tally = _Tally(tz, lo, until)
    tracks: dict[str, _Track] = {}
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    ordered = sorted(events, key=lambda e: (e.at, e.seq))
    for e in ordered:
        t = tracks.get(e.interaction_id)
        if t is None:
            t = tracks[e.interaction_id] = _Track(entered=enq.get(e.interaction_id))
        _apply(e, t, tally, sl, spans)
    for t in tracks.values():
        if t.leg is not None:
            spans.setdefault(t.leg.agent, []).append((t.leg.connected, now))
    _occupancy(tally, spans, lo, until, now)
    report = tally.report
    report.agents = {k: v for k, v in report.agents.items() if v.active()}
    return report


def _apply(e: Event, t: _Track, tally: _Tally, sl: Mapping[str, int],
           spans: dict[str, list[tuple[datetime, datetime]]]) -> None:
    kind = e.kind
    if kind == "created":
        t.queue = e.queue
        t.entered = t.entered or e.at
        if q := tally.queue(e.at, e.queue):
            q.offered += 1
    elif kind == "requeued":
        if e.queue != t.queue or t.after_transfer:
            if q := tally.queue(e.at, e.queue):
                q.offered += 1
        if t.after_transfer:
            t.entered = e.at
            t.after_transfer = False
        t.queue = e.queue or t.queue
        t.offer_queue = None
    elif kind == "offered":
        t.queue = e.queue or t.queue
        t.offer_queue = t.queue
        if a := tally.agent(e.at, e.agent_id):
            a.offered += 1
    elif kind == "offer_revoked":
        if e.data.get("reason") == "timeout":
            if q := tally.queue(e.at, t.offer_queue or t.queue):
                q.rona += 1
            if a := tally.agent(e.at, e.agent_id):
                a.rona += 1
        t.offer_queue = None
    elif kind == "connected":
        _connected(e, t, tally, sl)
    elif kind == "ended":
        leg = t.leg
        if leg is None:
            return
        leg.ended = e.at
        handle = (e.at - leg.connected).total_seconds()
        for fig in (tally.queue(e.at, leg.queue), tally.agent(e.at, leg.agent)):
            if fig is not None:
                fig.handled += 1
                fig.handle_s_total += handle
        if e.data.get("reason") == "transferred":
            spans.setdefault(leg.agent, []).append((leg.connected, e.at))
            t.leg = None
            t.after_transfer = True
    elif kind == "completed":
        leg = t.leg
        if leg is None:
            return
        if leg.ended is not None:
            wrap = (e.at - leg.ended).total_seconds()
            for fig in (tally.queue(e.at, leg.queue), tally.agent(e.at, leg.agent)):
                if fig is not None:
                    fig.wrapped += 1
                    fig.wrap_s_total += wrap
        spans.setdefault(leg.agent, []).append((leg.connected, e.at))
        t.leg = None
    elif kind == "abandoned":
        name = e.queue or t.queue
        if q := tally.queue(e.at, name):
            q.abandoned += 1
            if t.entered is not None and (e.at - t.entered).total_seconds() > sl.get(
                    name or "", DEFAULT_SERVICE_LEVEL_S):
                q.abandoned_after_sl += 1


def _connected(e: Event, t: _Track, tally: _Tally, sl: Mapping[str, int]) -> None:
    name = e.queue or t.queue or ""
    t.queue = name
    t.offer_queue = None
    if e.agent_id is not None:
        t.leg = _Leg(agent=e.agent_id, queue=name, connected=e.at)
    if q := tally.queue(e.at, name):
        q.answered += 1
        wait = max(0.0, (e.at - (t.entered or e.at)).total_seconds())
        q.answer_s_total += wait
        if wait <= sl.get(name, DEFAULT_SERVICE_LEVEL_S):
            q.answered_in_sl += 1
    if a := tally.agent(e.at, e.agent_id):
        a.answered += 1


def _merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _occupancy(tally: _Tally, spans: dict[str, list[tuple[datetime, datetime]]], lo: datetime,
               hi: datetime, now: datetime) -> None:
    """Spread each agent's busy time over the intervals it covers, and set each interval's length."""
    for agent, raw in spans.items():
        for s, e in _merged(raw):
            s, e = max(s, lo), min(e, hi, now)
            if e <= s:
                continue
            slot = interval_start(s, tally.tz).astimezone(UTC)
            while slot < e:
                part = (min(e, slot + INTERVAL) - max(s, slot)).total_seconds()
                if part > 0 and (fig := tally.agent(slot, agent)) is not None:
                    fig.busy_s += part
                slot += INTERVAL
    for (slot, _agent), fig in tally.report.agents.items():
        start = slot.astimezone(UTC)
        fig.interval_s = max(0.0, (min(start + INTERVAL, now) - start).total_seconds())
