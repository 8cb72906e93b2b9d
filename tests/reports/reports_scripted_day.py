"""A scripted morning of contact-center events in Asia/Kolkata (UTC+05:30), shared by the report tests.

The expected figures in the tests were worked out by hand from this script; the comments next to
each event give the numbers that follow from it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reports.intervals import Event

TZ = ZoneInfo("Asia/Kolkata")
SERVICE_LEVELS = {"sales": 20, "billing": 30}
DAY = (2026, 3, 10)


def local(h: int, m: int, s: int = 0) -> datetime:
    return datetime(*DAY, h, m, s, tzinfo=TZ)


@dataclass
class Script:
    agent_a: str = field(default_factory=lambda: str(uuid.uuid4()))
    agent_b: str = field(default_factory=lambda: str(uuid.uuid4()))
    ids: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def iid(self, name: str) -> str:
        return self.ids.setdefault(name, str(uuid.uuid4()))

    def add(self, at: datetime, kind: str, name: str, agent: str | None = None, queue: str | None = None,
            **data: Any) -> None:
        self.events.append(Event(at=at, kind=kind, interaction_id=self.iid(name), agent_id=agent, queue=queue,
                                 data=data, seq=len(self.events) + 1))

    def enqueued_at(self) -> dict[str, datetime]:
        return {e.interaction_id: e.at for e in self.events if e.kind == "created"}


def morning() -> Script:
    """09:00-09:45 local, two queues (sales SL 20 s, billing SL 30 s), two agents A and B."""
    s = Script()
    a, b = s.agent_a, s.agent_b
    # i0: answered before the window; its end and wrap-up fall in 09:00 (handle 420, wrap 10)
    s.add(local(8, 55), "created", "i0", queue="sales", channel="chat", priority=5)
    s.add(local(8, 55, 5), "offered", "i0", a, "sales", rule="longest_idle")
    s.add(local(8, 55, 10), "connected", "i0", a, "sales")
    s.add(local(9, 2, 10), "ended", "i0", a, reason="agent")
    s.add(local(9, 2, 20), "completed", "i0", a, code="resolved", auto=False)
    # i1: sales, answered in 15 s (in SL), handle 240, wrap 30 — all in 09:00
    s.add(local(9, 1), "created", "i1", queue="sales", channel="chat", priority=5)
    s.add(local(9, 1, 5), "offered", "i1", a, "sales", rule="longest_idle")
    s.add(local(9, 1, 15), "connected", "i1", a, "sales")
    s.add(local(9, 5, 15), "ended", "i1", a, reason="agent")
    s.add(local(9, 5, 45), "completed", "i1", a, code="resolved", auto=False)
    # i2: sales, RONA on B at 09:10:22, answered by A at 09:15:10 after 310 s (outside SL)
    s.add(local(9, 10), "created", "i2", queue="sales", channel="chat", priority=5)
    s.add(local(9, 10, 2), "offered", "i2", b, "sales", rule="longest_idle")
    s.add(local(9, 10, 22), "offer_revoked", "i2", b, reason="timeout")
    s.add(local(9, 10, 22), "requeued", "i2", queue="sales", overflow=False)
    s.add(local(9, 14, 50), "offered", "i2", a, "sales", rule="longest_idle")
    s.add(local(9, 15, 10), "connected", "i2", a, "sales")
    s.add(local(9, 20, 10), "ended", "i2", a, reason="agent")
    s.add(local(9, 21, 10), "completed", "i2", a, code="follow_up", auto=False)
    # i3: sales, abandoned after 10 s (within SL: does not count against it)
    s.add(local(9, 12), "created", "i3", queue="sales", channel="sms", priority=5)
    s.add(local(9, 12, 10), "abandoned", "i3", queue="sales", reason="customer")
    # i4: billing, abandoned after 60 s (beyond its 30 s SL)
    s.add(local(9, 13), "created", "i4", queue="billing", channel="chat", priority=5)
    s.add(local(9, 14), "abandoned", "i4", queue="billing", reason="max_wait")
    # i5: billing, answered by B in 20 s (in SL), handle 900 and wrap 20 land in 09:30
    s.add(local(9, 16), "created", "i5", queue="billing", channel="email", priority=5)
    s.add(local(9, 16, 10), "offered", "i5", b, "billing", rule="most_skilled")
    s.add(local(9, 16, 20), "connected", "i5", b, "billing")
    s.add(local(9, 31, 20), "ended", "i5", b, reason="agent")
    s.add(local(9, 31, 40), "completed", "i5", b, code="resolved", auto=True)
    # i6: sales, overflows to billing, answered by A after 100 s, transferred back to sales, and
    #     answered there by B 20 s after the transfer (in SL for that leg)
    s.add(local(9, 25), "created", "i6", queue="sales", channel="chat", priority=5)
    s.add(local(9, 26), "requeued", "i6", queue="billing", overflow=True)
    s.add(local(9, 26, 30), "offered", "i6", a, "billing", rule="most_skilled")
    s.add(local(9, 26, 40), "connected", "i6", a, "billing")
    s.add(local(9, 29, 40), "ended", "i6", a, reason="transferred")
    s.add(local(9, 29, 40), "requeued", "i6", queue="sales", overflow=False)
    s.add(local(9, 29, 50), "offered", "i6", b, "sales", rule="longest_idle")
    s.add(local(9, 30), "connected", "i6", b, "sales")
    s.add(local(9, 33), "ended", "i6", b, reason="agent")
    s.add(local(9, 33, 30), "completed", "i6", b, code="resolved", auto=False)
    return s
