"""Interval reports through PostgreSQL and REST: rollup of a scripted day, CSV, validation, a live run."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from harness import intake, login_token
from reports_scripted_day import SERVICE_LEVELS, local, morning

from reports.intervals import interval_start
from reports.store import rollup

BASE = "/api/v1/reports"
MORNING = {"from": "2026-03-10T09:00", "to": "2026-03-10T09:45"}


async def _seed_script(pool, org, script) -> None:  # type: ignore[no-untyped-def]
    """The scripted morning as events and interaction rows of ``org`` (agents A, B = agent1, agent2)."""
    await pool.execute("UPDATE orgs SET timezone='Asia/Kolkata' WHERE id=$1", org.id)
    for name, sl in SERVICE_LEVELS.items():
        await pool.execute("UPDATE queues SET service_level_s=$3 WHERE org_id=$1 AND name=$2",
                           org.id, name, sl)
    await pool.executemany(
        "INSERT INTO events (org_id, at, kind, interaction_id, agent_id, queue, data)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7)",
        [(org.id, e.at, e.kind, uuid.UUID(e.interaction_id), uuid.UUID(e.agent_id) if e.agent_id else None,
          e.queue, dict(e.data)) for e in script.events],
    )
    for iid in {e.interaction_id for e in script.events}:
        evs = [e for e in script.events if e.interaction_id == iid]
        created = evs[0]
        last = {e.kind: e.at for e in evs}
        state = "abandoned" if "abandoned" in last else "completed"
        await pool.execute(
            "INSERT INTO interactions (id, org_id, channel, queue, original_queue, state, priority,"
            " created_at, enqueued_at, connected_at, ended_at, completed_at)"
            " VALUES ($1,$2,'chat',$3,$4,$5,5,$6,$6,$7,$8,$9)",
            uuid.UUID(iid), org.id, created.queue, created.queue, state, created.at, last.get("connected"),
            last.get("ended") or last.get("abandoned"), last.get("completed"),
        )


def _scripted_with_org_agents(org):  # type: ignore[no-untyped-def]
    script = morning()
    a, b = org.users[org.email("agent1")], org.users[org.email("agent2")]
    swap = {script.agent_a: a, script.agent_b: b}
    script.events = [type(e)(e.at, e.kind, e.interaction_id, swap.get(e.agent_id or "", e.agent_id), e.queue,
                             e.data, e.seq) for e in script.events]
    script.agent_a, script.agent_b = a, b
    return script


async def _get(http, org, token, path, **params):  # type: ignore[no-untyped-def]
    async with http.get(f"{org.base}{BASE}/{path}", params=params,
                        headers={"Authorization": f"Bearer {token}"}) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, r.content_type, body


async def test_rollup_of_a_scripted_day_is_served_as_json_and_csv(http, org, pool):
    script = _scripted_with_org_agents(org)
    await _seed_script(pool, org, script)
    written = await rollup(pool, org.id, local(9, 0), local(9, 45))
    assert written == 6 + 5
    token = await login_token(http, org, "supervisor")
    status, _, body = await _get(http, org, token, "intervals", **MORNING)
    assert status == 200, body
    items = {(i["interval_start"], i["queue"]): i for i in body["items"]}
    assert body["items"][0]["interval_start"] == "2026-03-10T09:00:00+05:30"
    s0 = items[("2026-03-10T09:00:00+05:30", "sales")]
    assert {k: s0[k] for k in ("offered", "answered", "abandoned", "answered_in_sl", "service_level", "asa_s",
                               "aht_s", "avg_wrap_s", "rona")} == {
        "offered": 3, "answered": 1, "abandoned": 1, "answered_in_sl": 1, "service_level": 1.0, "asa_s": 15.0,
        "aht_s": 330.0, "avg_wrap_s": 20.0, "rona": 1}
    b15 = items[("2026-03-10T09:15:00+05:30", "billing")]
    assert (b15["offered"], b15["answered"], b15["answered_in_sl"], b15["service_level"], b15["asa_s"],
            b15["aht_s"]) == (2, 2, 1, 0.5, 60.0, 180.0)
    b30 = items[("2026-03-10T09:30:00+05:30", "billing")]
    assert (b30["aht_s"], b30["avg_wrap_s"], b30["service_level"], b30["asa_s"]) == (900.0, 20.0, None, None)

    status, _, body = await _get(http, org, token, "intervals", queue="billing",
                                 **{"from": "2026-03-10T03:30:00Z", "to": "2026-03-10T04:15:00Z"})
    assert [(i["interval_start"], i["queue"]) for i in body["items"]] == [
        ("2026-03-10T09:00:00+05:30", "billing"), ("2026-03-10T09:15:00+05:30", "billing"),
        ("2026-03-10T09:30:00+05:30", "billing")]

    status, ctype, text = await _get(http, org, token, "intervals.csv",
                                     **MORNING)
    assert status == 200 and ctype == "text/csv"
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["interval_start", "queue", "offered", "answered", "abandoned", "answered_in_sl",
                       "service_level", "asa_s", "aht_s", "avg_wrap_s", "rona"]
    assert ["2026-03-10T09:00:00+05:30", "billing", "1", "0", "1", "0", "0.0", "", "", "", "0"] in rows
    assert ["2026-03-10T09:15:00+05:30", "sales", "2", "1", "0", "0", "0.0", "310.0", "300.0", "60.0", "0"] \
        in rows
    assert len(rows) == 1 + 6


async def test_agent_report_gives_occupancy_and_names(http, org, pool):
    script = _scripted_with_org_agents(org)
    await _seed_script(pool, org, script)
    await rollup(pool, org.id, local(9, 0), local(9, 45))
    token = await login_token(http, org, "supervisor")
    status, _, body = await _get(http, org, token, "agents", agent=script.agent_b,
                                 **MORNING)
    assert status == 200, body
    got = [(i["interval_start"][11:16], i["display_name"], i["offered"], i["answered"], i["rona"],
            i["handled"], i["aht_s"], i["busy_s"], i["occupancy"]) for i in body["items"]]
    assert got == [("09:00", "Ben Agent", 1, 0, 1, 0, None, 0.0, 0.0),
                   ("09:15", "Ben Agent", 2, 1, 0, 0, None, 820.0, 0.9111),
                   ("09:30", "Ben Agent", 0, 1, 0, 2, 540.0, 210.0, 0.2333)]
    status, ctype, text = await _get(http, org, token, "agents.csv",
                                     **MORNING)
    assert status == 200 and ctype == "text/csv" and len(text.strip().splitlines()) == 1 + 5


async def test_report_rolls_up_on_demand_when_not_yet_rolled(http, org, pool):
    script = _scripted_with_org_agents(org)
    await _seed_script(pool, org, script)
    token = await login_token(http, org, "supervisor")
    status, _, body = await _get(http, org, token, "intervals", queue="sales",
                                 **MORNING)
    assert status == 200, body
    assert [(i["interval_start"][11:16], i["offered"], i["answered"]) for i in body["items"]] == [
        ("09:00", 3, 1), ("09:15", 2, 1), ("09:30", 0, 1)]
    mark = await pool.fetchval("SELECT rolled_until FROM interval_rollups WHERE org_id=$1", org.id)
    assert mark is not None and mark >= local(9, 45)


async def test_bad_report_parameters_are_422_json(http, org):
    token = await login_token(http, org, "supervisor")
    for params in ({"from": "yesterday"}, {"from": "2026-03-10T10:00", "to": "2026-03-10T09:00"},
                   {"from": "2026-01-01", "to": "2026-03-01"}, {"to": "2026-13-01"}):
        for path in ("intervals", "intervals.csv", "agents"):
            status, ctype, body = await _get(http, org, token, path, **params)
            assert status == 422 and ctype == "application/json", (path, params, body)
            assert body["error"]["code"] == "validation_error"


async def test_reports_are_for_supervisors_and_admins(http, org):
    token = await login_token(http, org, "agent1")
    status, _, body = await _get(http, org, token, "intervals")
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, _, body = await _get(http, org, await login_token(http, org, "admin"), "intervals")
    assert status == 200 and body == {"items": []}


async def test_report_routes_are_in_openapi(http, org):
    async with http.get(f"{org.base}/openapi.json") as r:
        doc = await r.json()
    for path in ("intervals", "intervals.csv", "agents"):
        assert f"{BASE}/{path}" in doc["paths"]
    assert "QueueInterval" in doc["components"]["schemas"]


def chat(queue: str = "sales"):  # type: ignore[no-untyped-def]
    return {"channel": "chat", "queue": queue, "message": {"text": "hello"},
            "customer": {"identity": {"type": "email", "value": "r@x.test"}}}


async def test_a_real_interaction_is_answered_in_its_interval(http, org, agents, pool):
    agent = await agents("agent1")
    await agent.wait("session")
    status, created = await intake(http, org, chat())
    assert status == 201, created
    offer = await agent.wait("offer")
    assert (await agent.call("offer:accept", {"offer_id": offer["offer_id"]}))["ok"]
    await agent.wait("interaction:connected")
    assert (await agent.call("interaction:end", {"interaction_id": created["id"]}))["ok"]
    ack = await agent.call("interaction:wrap_up", {"interaction_id": created["id"], "code": "resolved"})
    assert ack["ok"], ack
    row = None
    for _ in range(50):
        row = await pool.fetchrow("SELECT * FROM interactions WHERE id=$1::uuid", created["id"])
        if row["state"] == "completed":
            break
        await asyncio.sleep(0.05)
    assert row is not None and row["state"] == "completed"
    token = await login_token(http, org, "supervisor")
    frm = (row["created_at"] - timedelta(hours=1)).isoformat()
    to = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    status, _, body = await _get(http, org, token, "intervals", queue="sales", **{"from": frm, "to": to})
    assert status == 200, body
    by_start = {i["interval_start"]: i for i in body["items"]}
    answered = by_start[interval_start(row["connected_at"], UTC).isoformat()]
    assert answered["answered"] == 1 and answered["answered_in_sl"] == 1 and answered["asa_s"] is not None
    assert by_start[interval_start(row["created_at"], UTC).isoformat()]["offered"] == 1
    assert sum(i["answered"] for i in body["items"]) == 1
    assert by_start[interval_start(row["ended_at"], UTC).isoformat()]["aht_s"] is not None
    status, _, body = await _get(http, org, token, "agents", agent=org.users[org.email("agent1")],
                                 **{"from": frm, "to": to})
    assert sum(i["answered"] for i in body["items"]) == 1 and sum(i["offered"] for i in body["items"]) == 1


async def test_metrics_expose_the_depth_of_a_waiting_interaction(http, org):
    status, created = await intake(http, org, chat("billing"))
    assert status == 201, created
    want = f'switchboard_queue_depth{{org="{org.id}",queue="billing"}} 1.0'
    text = ""
    for _ in range(40):
        async with http.get(f"{org.base}/metrics") as r:
            text = await r.text()
        if want in text:
            break
        await asyncio.sleep(0.2)
    assert want in text
    assert f'switchboard_queue_longest_wait_seconds{{org="{org.id}",queue="billing"}}' in text
    assert f'switchboard_agents{{org="{org.id}",state="logged_out"}} 5.0' in text


async def test_rollup_is_repeatable_and_never_marks_past_a_gap(pool, org_id):
    await pool.execute("INSERT INTO orgs (id, name, timezone) VALUES ($1, $1, 'Asia/Kolkata')", org_id)
    iid = uuid.uuid4()
    await pool.execute(
        "INSERT INTO interactions (id, org_id, channel, queue, original_queue, state, priority, created_at,"
        " enqueued_at) VALUES ($1,$2,'chat','sales','sales','abandoned',5,$3,$3)", iid, org_id, local(9, 1))
    await pool.executemany(
        "INSERT INTO events (org_id, at, kind, interaction_id, queue) VALUES ($1,$2,$3,$4,'sales')",
        [(org_id, local(9, 1), "created", iid), (org_id, local(9, 20), "abandoned", iid)])
    # a later range alone leaves the earlier events unrolled, so the mark must not move there
    # (the background job may meanwhile roll everything up to now)
    assert await rollup(pool, org_id, local(9, 15), local(9, 30)) == 1
    mark = await pool.fetchval("SELECT rolled_until FROM interval_rollups WHERE org_id=$1", org_id)
    assert mark is None or mark > local(10, 0)
    for _ in range(2):
        assert await rollup(pool, org_id, local(9, 0), local(9, 30)) == 2
    rows = await pool.fetch("SELECT interval_start, figures FROM interval_stats WHERE org_id=$1"
                            " ORDER BY interval_start", org_id)
    assert [(r["interval_start"], r["figures"]["offered"], r["figures"]["abandoned"],
             r["figures"]["abandoned_after_sl"]) for r in rows] == [(local(9, 0), 1, 0, 0),
                                                                    (local(9, 15), 0, 1, 1)]
    mark = await pool.fetchval("SELECT rolled_until FROM interval_rollups WHERE org_id=$1", org_id)
    assert mark >= local(9, 30)
    # figures of events that are gone disappear on the next rollup of their interval
    await pool.execute("DELETE FROM events WHERE org_id=$1 AND kind='abandoned'", org_id)
    assert await rollup(pool, org_id, local(9, 15), local(9, 30)) == 0
    assert await pool.fetchval("SELECT count(*) FROM interval_stats WHERE org_id=$1", org_id) == 1
