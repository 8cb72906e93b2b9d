"""Routing reports that miss PostgreSQL wait in Redis and are written once it is back: the history,
decision logs and integrator events of an outage are recorded as they happened, each once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from report_event_fixtures import (
    SALES,
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

from routing.recorder import ReportRecorder
from routing.spool import ReportSpool
from switchboard import jsonwire, keys


@pytest.fixture
def redis(quiet_redis: Any) -> Any:
    """The routing env on a Redis database no test server drains spools from."""
    return quiet_redis


async def spooled(env: Any) -> int:
    return int(await env.redis.llen(keys.report_spool(env.org)))


async def test_a_conversation_ended_during_an_outage_is_recorded_as_it_happened(env):
    iid, agent = await connected(env)
    down = await outage(env)
    await env.router.end(env.org, agent, iid)
    await env.router.wrap_up(env.org, agent, iid, "resolved", "asked about a refund")
    env.router.recorder.hooks.remove(down)
    assert await state_of(env, iid) == "connected" and await spooled(env) > 0
    assert await env.redis.sismember(keys.spooled_orgs(), env.org)

    counts = await reconcile(env)

    assert counts["synced"] == 0, "nothing was left for the recovered-end path"
    assert await end_row(env, iid) == ("completed", "agent")
    row = await env.pool.fetchrow("SELECT wrap_up_code, wrap_up_notes FROM interactions WHERE id=$1::uuid", iid)
    assert (row["wrap_up_code"], row["wrap_up_notes"]) == ("resolved", "asked about a refund")
    assert await kinds(env, iid) == ["created", "offered", "connected", "ended", "completed"]
    completed = {"interaction_id": iid, "agent_id": agent, "wrap_up_code": "resolved", "auto": False}
    assert await completions(env) == [completed]
    assert await spooled(env) == 0
    assert not await env.redis.sismember(keys.spooled_orgs(), env.org)

    await reconcile(env)
    assert await kinds(env, iid) == ["created", "offered", "connected", "ended", "completed"], "replayed once"


async def test_an_offer_made_during_an_outage_keeps_its_decision_log_and_events(env):
    await env.queue(**SALES)
    await with_events(env)
    iid = await intake(env, "waiting@example.test")
    down = await outage(env)
    agent = await env.agent("late", {"sales": 5})  # logs in: the drain offers it the waiting chat
    await env.router.accept(env.org, agent, (await env.live(iid))["offer"])
    env.router.recorder.hooks.remove(down)
    assert await state_of(env, iid) == "queued"

    assert await env.router.recorder.replay_spooled(env.org) > 0

    assert await state_of(env, iid) == "connected"
    decision = await env.pool.fetchrow(
        "SELECT outcome, winner::text, rule FROM routing_decisions"
        " WHERE interaction_id=$1::uuid AND winner IS NOT NULL",
        iid,
    )
    assert (decision["outcome"], decision["winner"]) == ("offered", agent) and decision["rule"]
    assert [k for k, _ in await outbox(env)] == ["interaction.created", "interaction.offered", "interaction.connected"]


async def test_a_late_replay_never_moves_an_interaction_back(env):
    """The offer waited in the spool while the accept, after PostgreSQL came back, was written at once."""
    await env.queue(**SALES)
    iid = await intake(env, "order@example.test")
    down = await outage(env)
    agent = await env.agent("quick", {"sales": 5})
    env.router.recorder.hooks.remove(down)
    env.clock.advance(1)
    await env.router.accept(env.org, agent, (await env.live(iid))["offer"])
    assert await state_of(env, iid) == "connected"

    await env.router.recorder.replay_spooled(env.org)

    assert await state_of(env, iid) == "connected"
    assert await kinds(env, iid) == ["created", "offered", "connected"]


async def test_two_nodes_replaying_at_once_write_each_report_once(env):
    iid, agent = await connected(env)
    down = await outage(env)
    await env.router.end(env.org, agent, iid)
    await env.router.wrap_up(env.org, agent, iid, "resolved")
    env.router.recorder.hooks.remove(down)
    other_node = ReportRecorder(env.pool, ReportSpool(env.redis))  # same Redis, same PostgreSQL
    other_node.hooks = env.router.recorder.hooks

    applied = await asyncio.gather(env.router.recorder.replay_spooled(env.org), other_node.replay_spooled(env.org))

    assert sum(applied) >= 2 and await spooled(env) == 0
    assert await kinds(env, iid) == ["created", "offered", "connected", "ended", "completed"]
    assert len(await completions(env)) == 1


async def test_a_replay_cut_off_before_the_trim_is_not_applied_again(env):
    iid, agent = await connected(env)
    down = await outage(env)
    await env.router.end(env.org, agent, iid)
    env.router.recorder.hooks.remove(down)
    entries = await env.redis.lrange(keys.report_spool(env.org), 0, -1)

    await env.router.recorder.replay_spooled(env.org)
    await env.redis.rpush(keys.report_spool(env.org), *entries)  # as if the node died before trimming
    assert await env.router.recorder.replay_spooled(env.org) == 0

    assert await kinds(env, iid) == ["created", "offered", "connected", "ended"]
    assert await spooled(env) == 0


async def test_a_full_spool_drops_what_does_not_fit_and_keeps_the_rest(env):
    iid, agent = await connected(env)
    env.router.recorder.spool.max_entries = 1
    down = await outage(env)
    await env.router.end(env.org, agent, iid)
    await env.router.wrap_up(env.org, agent, iid, "resolved")
    env.router.recorder.hooks.remove(down)
    assert await spooled(env) == 1

    assert (await reconcile(env))["synced"] == 1, "the reconciler records how the dropped part ended"
    assert await kinds(env, iid) == ["created", "offered", "connected", "ended", "completed"]
    assert await end_row(env, iid) == ("completed", "agent")


async def test_an_entry_postgres_refuses_is_set_aside_and_the_rest_are_written(env):
    iid, agent = await connected(env)
    down = await outage(env)
    await env.router.end(env.org, agent, iid)
    good = await env.redis.lrange(keys.report_spool(env.org), 0, -1)
    # an entry whose change names no valid interaction id: no outage, PostgreSQL refuses the data itself
    bad = jsonwire.dumps({"id": "bad-entry", "reports": [[{"ended": [{"iid": "not-a-uuid", "v": 9}]}, 0]]})
    await env.redis.lpush(keys.report_spool(env.org), bad)
    await env.router.wrap_up(env.org, agent, iid, "resolved")
    env.router.recorder.hooks.remove(down)
    assert await spooled(env) == len(good) + 2

    await reconcile(env)

    assert await spooled(env) == 0
    assert await env.redis.hgetall(keys.report_spool_refused(env.org)) == {"bad-entry": bad}
    assert await end_row(env, iid) == ("completed", "agent"), "the entries around the bad one were written"
    assert await kinds(env, iid) == ["created", "offered", "connected", "ended", "completed"]
