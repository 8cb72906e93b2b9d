"""Integrator events are written in the transaction that records the routing report: they exist iff
the report committed, and a failing hook never stops the report or routing."""

from __future__ import annotations

import asyncpg
import pytest
from report_event_fixtures import SALES, PicksAll, intake, outbox, state_of, with_events

from channels import events
from channels.wiring import EventPublisher
from queues.store import RecordedReport


class SeesOutbox(PicksAll):
    """Counts the batch's org's event rows from inside the recorder's transaction and from outside it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.counts: list[tuple[int, int]] = []

    async def write(self, conn: asyncpg.Connection, reports: list[RecordedReport]) -> None:
        sql = "SELECT count(*) FROM outbox WHERE org_id=$1 AND kind='event'"
        self.counts.append((await conn.fetchval(sql, reports[0][0]), await self.pool.fetchval(sql, reports[0][0])))


class FailsTheCommit(PicksAll):
    """Leaves a deferred foreign key broken, so the recorder's COMMIT itself fails."""

    async def write(self, conn: asyncpg.Connection, reports: list[RecordedReport]) -> None:
        await conn.execute(
            "CREATE TEMP TABLE hook_parent (id int PRIMARY KEY) ON COMMIT DROP;"
            " CREATE TEMP TABLE hook_child (parent int REFERENCES hook_parent DEFERRABLE INITIALLY DEFERRED)"
            " ON COMMIT DROP;"
            " INSERT INTO hook_child VALUES (1)"
        )


class BreaksMidway(PicksAll):
    """Writes an outbox row, then a statement fails: the transaction would be aborted without a savepoint."""

    async def write(self, conn: asyncpg.Connection, reports: list[RecordedReport]) -> None:
        await events.publish(conn, reports[0][0], "interaction.abandoned", {"interaction_id": "bogus"}, 0)
        await conn.execute("SELECT 1/0")


class CannotPick(PicksAll):
    async def pick(self, reports: list[RecordedReport]) -> list[RecordedReport]:
        raise RuntimeError("no idea")


class LosesTheConnection(PicksAll):
    """PostgreSQL goes away in the middle of the recorder's transaction."""

    async def write(self, conn: asyncpg.Connection, reports: list[RecordedReport]) -> None:
        await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")


async def test_events_are_committed_with_the_report_that_causes_them(env):
    await env.queue(**SALES)
    agent = await env.agent("a", {"sales": 5})
    await with_events(env, ["interaction.created", "interaction.offered"])
    seen = SeesOutbox(env.pool)
    env.router.recorder.add_hook(seen)

    iid = await intake(env, "first@example.test")

    # committed by the time the router returns: no after-commit step left to lose
    assert await state_of(env, iid) == "offered"
    got = await outbox(env)
    assert [kind for kind, _ in got] == ["interaction.created", "interaction.offered"]
    created, offered = got[0][1], got[1][1]
    assert created == {
        "interaction_id": iid,
        "queue": "sales",
        "channel": "chat",
        "priority": 3,
        "customer_id": created["customer_id"],
    }
    assert created["customer_id"] == str(
        await env.pool.fetchval("SELECT customer_id FROM interactions WHERE id=$1::uuid", iid)
    )
    assert (offered["interaction_id"], offered["agent_id"], offered["queue"]) == (iid, agent, "sales")
    assert seen.counts == [(2, 0)], "the events were in the report's transaction, not yet visible outside it"


async def test_report_whose_transaction_fails_publishes_no_events(env):
    await env.queue(**SALES)
    await env.agent("a", {"sales": 5})
    await with_events(env, ["*"])
    env.router.recorder.add_hook(FailsTheCommit())

    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await intake(env, "lost@example.test")

    assert await outbox(env) == []
    assert await env.pool.fetchval("SELECT count(*) FROM routing_decisions WHERE org_id=$1", env.org) == 0
    assert await env.pool.fetchval("SELECT state FROM interactions WHERE org_id=$1", env.org) == "queued"


async def test_failing_hooks_do_not_stop_the_report_or_routing(env):
    await env.queue(**SALES)
    a = await env.agent("a", {"sales": 5})
    env.router.recorder.add_hook(CannotPick())
    env.router.recorder.add_hook(BreaksMidway())
    await with_events(env, ["interaction.offered", "interaction.connected"])

    iid = await intake(env, "kept@example.test")
    assert await state_of(env, iid) == "offered"
    live = await env.live(iid)
    await env.router.accept(env.org, a, live["offer"])

    assert await state_of(env, iid) == "connected"
    got = await outbox(env)
    assert [kind for kind, _ in got] == ["interaction.offered", "interaction.connected"], (
        "the broken hook's row was rolled back to its savepoint, the publisher's rows kept"
    )
    assert await env.pool.fetchval(
        "SELECT count(*) FROM routing_decisions WHERE interaction_id=$1::uuid", iid
    ) == 1


async def test_report_deferred_while_postgres_is_unreachable_publishes_no_events(env):
    await env.queue(**SALES)
    await env.agent("a", {"sales": 5})
    await with_events(env, ["*"])
    env.router.recorder.add_hook(LosesTheConnection())

    iid = await intake(env, "deferred@example.test")

    assert (await env.live(iid))["state"] == "offered", "routing went on in Redis"
    assert await state_of(env, iid) == "queued", "the report was deferred to the reconciler"
    assert await outbox(env) == []


async def test_agent_state_changes_reach_the_outbox_only_for_orgs_that_want_them(env):
    await env.queue(**SALES)
    a = await env.agent("a", {"sales": 5})
    publisher = EventPublisher(env.pool, env.redis)
    env.router.recorder.add_hook(publisher)

    assert await publisher.wanted(env.org) == frozenset()
    report = await env.router.set_state(env.org, a, "not_ready", "break")
    assert not env.router.recorder.hooked(env.org, report.get("report", report)), (
        "an org without subscriptions costs an agent-only report no transaction"
    )
    assert await outbox(env) == []

    await events.create_subscription(env.pool, env.org, "http://127.0.0.1:9/hook", ["agent.state_changed"])
    publisher.invalidate(env.org)
    await env.router.set_state(env.org, a, "not_ready", "lunch")
    await env.router.set_state(env.org, a, "available", None)

    got = await outbox(env)
    assert [kind for kind, _ in got] == ["agent.state_changed"] * 2
    assert [(d["agent_id"], d["state"], d["idle_code"], d["previous_state"]) for _, d in got] == [
        (a, "not_ready", "lunch", None),
        (a, "available", None, "not_ready"),
    ]
