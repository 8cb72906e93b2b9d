"""Ends the reconciler records for reports lost while PostgreSQL was down (never spooled: their process
was killed, or Redis failed too) publish their integrator events, once: in the transaction of the
UPDATE that records them, only when it changed the row."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from report_event_fixtures import (
    SALES,
    PostgresDown,
    completions,
    connected,
    end_row,
    intake,
    kinds,
    outage,
    outbox,
    reconcile,
    state_of,
    with_events,
)

from routing.reconciler import reconcile_org
from switchboard import keys


@pytest.fixture
def redis(quiet_redis: Any) -> Any:
    """The routing env on a Redis database no test server drains spools from: the session's server
    once replayed a report these tests mean to lose, before they could."""
    return quiet_redis


async def lose_spooled_reports(env: Any, down: PostgresDown) -> None:
    """The outage ends, and the reports it spooled are gone (as if never pushed)."""
    env.router.recorder.hooks.remove(down)
    assert await env.redis.llen(keys.report_spool(env.org)) > 0
    await env.redis.delete(keys.report_spool(env.org))


async def test_completion_redis_reached_during_an_outage_publishes_one_completed_event(env):
    iid, agent = await connected(env)
    down = await outage(env)
    await env.router.end(env.org, agent, iid)
    await env.router.wrap_up(env.org, agent, iid, "resolved")
    await lose_spooled_reports(env, down)
    assert (await env.live(iid))["state"] == "completed"
    assert await state_of(env, iid) == "connected", "the end and the wrap-up were deferred"
    assert await completions(env) == [], "and so were their events"

    # two nodes reconciling at once: the row lock lets one UPDATE change the row
    results = await asyncio.gather(reconcile(env), reconcile(env))

    assert all(r["synced"] == 1 for r in results)
    assert await end_row(env, iid) == ("completed", "recovered")
    assert await kinds(env, iid) == ["created", "offered", "connected", "completed"], "interval statistics count it"
    completed = await completions(env)
    assert completed == [{"interaction_id": iid, "agent_id": agent, "wrap_up_code": None, "auto": True}]

    assert (await reconcile(env))["synced"] == 0, "nothing left open in PostgreSQL"
    assert await completions(env) == completed


async def test_abandon_redis_reached_during_an_outage_publishes_one_abandoned_event(env):
    await env.queue(**SALES)
    await with_events(env)
    iid = await intake(env, "gone@example.test")
    assert await state_of(env, iid) == "queued"
    down = await outage(env)
    assert await env.router.abandon(env.org, iid, "customer") == "queued"
    await lose_spooled_reports(env, down)
    assert await state_of(env, iid) == "queued", "the abandon was deferred"

    assert (await reconcile(env))["synced"] == 1
    assert await reconcile(env) == {"requeued": 0, "completed": 0, "present": 0, "synced": 0}

    assert await end_row(env, iid) == ("abandoned", "recovered")
    assert await kinds(env, iid) == ["created", "abandoned"]
    got = await outbox(env)
    assert [k for k, _ in got] == ["interaction.created", "interaction.abandoned"]
    assert got[1][1] == {"interaction_id": iid, "queue": "sales", "reason": "recovered"}


async def test_wrap_up_redis_lost_is_completed_with_one_completed_event(env):
    iid, agent = await connected(env)
    await env.router.end(env.org, agent, iid)
    assert await state_of(env, iid) == "wrap_up"
    await env.redis.delete(keys.interaction(env.org, iid))

    assert (await reconcile(env))["completed"] == 1
    assert (await reconcile(env))["completed"] == 0

    assert await end_row(env, iid) == ("completed", "agent"), "the end reason PostgreSQL had is kept"
    assert await completions(env) == [{"interaction_id": iid, "agent_id": agent, "wrap_up_code": None, "auto": True}]


async def test_an_end_whose_commit_is_in_flight_is_left_to_its_report(env):
    """Redis has the end, PostgreSQL not yet: the report's commit is still in flight. The reconciler
    must not pre-empt it (wrong end reason 'recovered', and a second completed event)."""
    iid, _ = await connected(env)
    await env.redis.hset(keys.interaction(env.org, iid), "state", "completed")  # Redis moved on...
    running = asyncio.create_task(
        reconcile_org(env.pool, env.redis, env.router, env.router.queues, env.org, settle_s=0.5)
    )
    await asyncio.sleep(0.1)
    # ...and the report's own commit lands while the reconciler settles
    await env.pool.execute(
        "UPDATE interactions SET state='completed', completed_at=now(), end_reason='agent' WHERE id=$1::uuid", iid
    )
    await running
    assert await end_row(env, iid) == ("completed", "agent")
    assert await completions(env) == [], "the reconciler published nothing for an end it did not record"
