"""Interval statistics computed from a scripted day of events match hand-computed figures (no DB)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from reports_scripted_day import SERVICE_LEVELS, TZ, local, morning

from reports.intervals import (
    AgentFigures,
    Event,
    QueueFigures,
    compute_intervals,
    interval_start,
    interval_starts,
)


def _queues(report):  # type: ignore[no-untyped-def]
    return {(k[0].strftime("%H:%M"), k[1]): v.as_json() for k, v in report.queues.items()}


def _agents(report, script):  # type: ignore[no-untyped-def]
    names = {script.agent_a: "A", script.agent_b: "B"}
    return {(k[0].strftime("%H:%M"), names[k[1]]): v.as_json() for k, v in report.agents.items()}


def _compute(script, **kw):  # type: ignore[no-untyped-def]
    return compute_intervals(script.events, tz=TZ, since=local(9, 0), until=local(9, 45),
                             service_levels=SERVICE_LEVELS, **kw)


def test_interval_starts_are_on_the_local_quarter_hour():
    at = local(9, 14, 59)
    assert interval_start(at, TZ) == local(9, 0)
    assert interval_start(at, TZ).utcoffset() == timedelta(hours=5, minutes=30)
    starts = interval_starts(local(9, 7), local(9, 45), TZ)
    assert [t.strftime("%H:%M") for t in starts] == ["09:00", "09:15", "09:30"]


def test_queue_figures_match_hand_computed_values():
    q = _queues(_compute(morning()))
    assert set(q) == {("09:00", "sales"), ("09:15", "sales"), ("09:30", "sales"),
                      ("09:00", "billing"), ("09:15", "billing"), ("09:30", "billing")}
    s0 = q[("09:00", "sales")]
    # i1, i2, i3 created (i0 came in before the window); i1 answered in 15 s; i3 left within SL;
    # i0 (420 s) and i1 (240 s) ended; wrap 10 s and 30 s; B's RONA on i2
    assert (s0["offered"], s0["answered"], s0["answered_in_sl"], s0["abandoned"], s0["abandoned_after_sl"]) \
        == (3, 1, 1, 1, 0)
    assert (s0["service_level"], s0["asa_s"], s0["aht_s"], s0["avg_wrap_s"], s0["rona"]) \
        == (1.0, 15.0, 330.0, 20.0, 1)
    s15 = q[("09:15", "sales")]
    # i6 created, and i6 transferred back in; i2 answered after 310 s, handle 300, wrap 60
    assert (s15["offered"], s15["answered"], s15["answered_in_sl"], s15["abandoned"]) == (2, 1, 0, 0)
    assert (s15["service_level"], s15["asa_s"], s15["aht_s"], s15["avg_wrap_s"], s15["rona"]) \
        == (0.0, 310.0, 300.0, 60.0, 0)
    s30 = q[("09:30", "sales")]
    # i6's second leg: answered 20 s after the transfer (SL 20 s: in), handle 180, wrap 30
    assert (s30["offered"], s30["answered"], s30["answered_in_sl"]) == (0, 1, 1)
    assert (s30["service_level"], s30["asa_s"], s30["aht_s"], s30["avg_wrap_s"]) == (1.0, 20.0, 180.0, 30.0)
    b0 = q[("09:00", "billing")]
    # i4 abandoned after 60 s, beyond billing's 30 s: SL 0 / (0 + 1)
    assert (b0["offered"], b0["answered"], b0["abandoned"], b0["abandoned_after_sl"]) == (1, 0, 1, 1)
    assert (b0["service_level"], b0["asa_s"], b0["aht_s"]) == (0.0, None, None)
    b15 = q[("09:15", "billing")]
    # i5 created, i6 overflowed in; i5 answered in 20 s (in SL), i6 after 100 s; i6's leg handled 180 s
    assert (b15["offered"], b15["answered"], b15["answered_in_sl"], b15["abandoned"]) == (2, 1 + 1, 1, 0)
    assert (b15["service_level"], b15["asa_s"], b15["aht_s"], b15["avg_wrap_s"]) == (0.5, 60.0, 180.0, None)
    b30 = q[("09:30", "billing")]
    # i5 ended after 900 s and wrapped in 20 s
    assert (b30["offered"], b30["answered"], b30["handled"], b30["wrapped"]) == (0, 0, 1, 1)
    assert (b30["service_level"], b30["asa_s"], b30["aht_s"], b30["avg_wrap_s"]) == (None, None, 900.0, 20.0)


def test_agent_figures_match_hand_computed_values():
    script = morning()
    a = _agents(_compute(script), script)
    assert set(a) == {("09:00", "A"), ("09:15", "A"), ("09:00", "B"), ("09:15", "B"), ("09:30", "B")}
    a0 = a[("09:00", "A")]
    # offered i1 and i2; answered i1; ended i0 and i1 (660 s); busy 09:00:00-09:05:45 (i0 and i1 overlap)
    assert (a0["offered"], a0["answered"], a0["rona"], a0["handled"], a0["handle_s_total"]) \
        == (2, 1, 0, 2, 660.0)
    assert (a0["aht_s"], a0["wrapped"], a0["avg_wrap_s"], a0["busy_s"], a0["occupancy"]) \
        == (330.0, 2, 20.0, 345.0, 0.3833)
    a15 = a[("09:15", "A")]
    # offered i6; answered i2 and i6; ended i2 (300) and i6's transferred leg (180); wrapped i2 (60)
    assert (a15["offered"], a15["answered"], a15["handled"], a15["aht_s"], a15["wrapped"]) \
        == (1, 2, 2, 240.0, 1)
    assert (a15["busy_s"], a15["occupancy"]) == (360.0 + 180.0, 0.6)
    b0 = a[("09:00", "B")]
    assert (b0["offered"], b0["answered"], b0["rona"], b0["busy_s"], b0["occupancy"]) == (1, 0, 1, 0.0, 0.0)
    b15 = a[("09:15", "B")]
    # offered i5 and i6, answered i5 at 09:16:20, busy from then to the interval's end
    assert (b15["offered"], b15["answered"], b15["handled"], b15["busy_s"], b15["occupancy"]) \
        == (2, 1, 0, 820.0, 0.9111)
    b30 = a[("09:30", "B")]
    # answered i6; ended i5 (900) and i6 (180); wrap 20 and 30; busy 09:30:00-09:33:30
    assert (b30["answered"], b30["handled"], b30["aht_s"], b30["wrapped"], b30["avg_wrap_s"]) \
        == (1, 2, 540.0, 2, 25.0)
    assert (b30["busy_s"], b30["occupancy"]) == (210.0, 0.2333)


def test_current_interval_occupancy_counts_only_the_elapsed_part():
    script = morning()
    report = _compute(script, now=local(9, 40))
    b30 = report.agents[(local(9, 30), script.agent_b)]
    assert (b30.interval_s, b30.busy_s) == (600.0, 210.0)
    assert b30.as_json()["occupancy"] == 0.35


def test_open_conversation_is_busy_until_now():
    ev = [Event(local(9, 1), "created", "x", queue="sales", seq=1),
          Event(local(9, 2), "connected", "x", agent_id="ag", queue="sales", seq=2)]
    report = compute_intervals(ev, tz=TZ, since=local(9, 0), until=local(9, 45), now=local(9, 20))
    assert report.agents[(local(9, 0), "ag")].busy_s == 13 * 60
    assert report.agents[(local(9, 15), "ag")].busy_s == 5 * 60
    assert report.agents[(local(9, 15), "ag")].as_json()["occupancy"] == 1.0


def test_connect_time_comes_from_enqueued_at_when_created_is_outside_the_events():
    ev = [Event(local(9, 1), "connected", "x", agent_id="ag", queue="sales", seq=2)]
    report = compute_intervals(ev, tz=TZ, since=local(9, 0), until=local(9, 15),
                               enqueued_at={"x": local(9, 0, 30)}, service_levels={"sales": 20})
    fig = report.queues[(local(9, 0), "sales")]
    assert (fig.answered, fig.answer_s_total, fig.answered_in_sl) == (1, 30.0, 0)


def test_same_instant_in_other_zones_lands_in_the_same_interval():
    at = local(9, 14)
    ny = interval_start(at, ZoneInfo("America/New_York"))
    assert ny == interval_start(at, TZ) and ny.utcoffset() != interval_start(at, TZ).utcoffset()


def test_empty_figures_have_no_averages():
    assert QueueFigures().as_json()["service_level"] is None
    assert AgentFigures().as_json()["occupancy"] is None
