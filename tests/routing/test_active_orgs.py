"""The active-org set holds only orgs with live routing work, and pruning it never strands a timer.

Each test runs its poller rounds over its own org only (``round({org})``), never a whole tick over
the shared set: other test sessions' orgs live there too.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from routing import active_orgs, scripts
from routing.intake import enqueue_record
from routing.timers import TimerPoller
from switchboard import keys
from switchboard.clock import ms, to_datetime

IDLE_S = 0.3
PROBATION_S = 0.6
SALES = {"name": "sales", "channels": ["chat"], "skills": {"sales": 1}}


@pytest.fixture(autouse=True)
def fast_touch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writers re-add an org every 0.2 s, so a 0.6 s probation is long enough."""
    monkeypatch.setattr(active_orgs, "TOUCH_EVERY_S", 0.2)


@pytest.fixture(autouse=True)
async def leave_set(redis: aioredis.Redis, org_id: str) -> AsyncIterator[None]:
    yield
    await redis.srem(keys.active_orgs(), org_id)


def poller_for(env: Any, redis: aioredis.Redis | None = None) -> TimerPoller:
    p = TimerPoller(redis or env.redis, env.router, env.clock, idle_s=IDLE_S, probation_s=PROBATION_S)
    p.fired = []  # type: ignore[attr-defined]

    async def probe(org: str, parts: list[str], member: str) -> None:
        p.fired.append(member)  # type: ignore[attr-defined]
        await p.redis.zrem(keys.timers(org), member)

    p.handlers["probe"] = probe
    return p


async def member(redis: aioredis.Redis, org: str) -> bool:
    return bool(await redis.sismember(keys.active_orgs(), org))


async def idle_long_enough(env: Any, poller: TimerPoller) -> None:
    """Have a round see the org idle, then wait out the idle period."""
    await poller.round({env.org})
    await asyncio.sleep(IDLE_S + 0.05)


def record(env: Any, queue: str = "sales") -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "org_id": env.org, "queue": queue, "channel": "chat", "priority": 0,
        "enqueued_at": to_datetime(env.clock.now()), "skills": {}, "customer_id": None, "subject": None,
    }  # fmt: skip


async def test_idle_org_is_pruned_after_the_idle_period_then_forgotten(env):
    poller = poller_for(env)
    await active_orgs.add(env.redis, env.org)
    await poller.round({env.org})
    assert await member(env.redis, env.org), "idle, but not for long enough yet"
    assert await env.redis.exists(keys.idle_since(env.org))
    await asyncio.sleep(IDLE_S + 0.05)
    await poller.round({env.org})
    assert not await member(env.redis, env.org)
    assert env.org in poller.pruner.on_probation
    await asyncio.sleep(PROBATION_S + 0.05)
    await poller.round(set())
    assert env.org not in poller.pruner.on_probation
    assert not await member(env.redis, env.org)


async def test_timer_added_between_the_idle_check_and_the_srem_still_fires(env):
    poller = poller_for(env)
    await active_orgs.add(env.redis, env.org)
    await idle_long_enough(env, poller)
    started = time.monotonic()
    claims = await poller.claim([env.org])
    seen = claims[env.org]
    assert not isinstance(seen, Exception) and seen.idle_ms >= IDLE_S * 1000
    # a writer adds the org (already there) and its timer lands after the check, before the SREM
    await active_orgs.add(env.redis, env.org)
    await env.redis.zadd(keys.timers(env.org), {"probe|raced": ms(env.clock.now())})
    await poller.pruner.settle({env.org}, {env.org: seen.idle_ms}, started)
    assert not await member(env.redis, env.org), "the SREM went through"
    # the next round checks the org on probation: the timer fires and the org is back
    assert await poller.round(set()) == 1
    assert poller.fired == ["probe|raced"]  # type: ignore[attr-defined]
    assert await member(env.redis, env.org)
    assert env.org not in poller.pruner.on_probation


async def test_org_with_a_pending_timer_is_never_pruned(env):
    poller = poller_for(env)
    await active_orgs.add(env.redis, env.org)
    await env.redis.zadd(keys.timers(env.org), {"probe|later": ms(env.clock.now() + 3600)})
    for _ in range(4):
        await poller.round({env.org})
        await asyncio.sleep(IDLE_S / 2)
    assert await member(env.redis, env.org)
    assert not await env.redis.exists(keys.idle_since(env.org))
    assert poller.fired == []  # type: ignore[attr-defined]


async def test_org_with_an_online_agent_is_never_pruned(env):
    await env.queue(**SALES)
    await env.agent("a", {"sales": 5})
    poller = poller_for(env)
    await active_orgs.add(env.redis, env.org)
    for _ in range(4):
        await poller.round({env.org})
        await asyncio.sleep(IDLE_S / 2)
    assert await member(env.redis, env.org)
    assert env.org not in poller.pruner.on_probation


async def test_idle_mark_is_cleared_when_work_appears(env):
    poller = poller_for(env)
    await active_orgs.add(env.redis, env.org)
    await idle_long_enough(env, poller)
    await env.redis.zadd(keys.timers(env.org), {"probe|late": ms(env.clock.now() + 3600)})
    await poller.round({env.org})
    assert not await env.redis.exists(keys.idle_since(env.org))
    await env.redis.zrem(keys.timers(env.org), "probe|late")
    await poller.round({env.org})
    assert await member(env.redis, env.org), "idle again, but the count started over"


async def test_new_interaction_in_a_pruned_org_gets_its_escalation_and_max_wait_fired(env):
    q = await env.queue(**SALES, escalation=[{"after_s": 2, "min_proficiency": {"sales": 3}}], max_wait_s=5)
    poller = poller_for(env)
    await active_orgs.add(env.redis, env.org)
    await idle_long_enough(env, poller)
    await poller.round({env.org})
    await asyncio.sleep(PROBATION_S + 0.05)
    await poller.round(set())
    assert not await member(env.redis, env.org) and not poller.pruner.on_probation
    rec = record(env)
    await enqueue_record(env.router, q, rec, customer_name="Cora")
    assert await member(env.redis, env.org), "the enqueue put the org back"
    iid = str(rec["id"])
    env.clock.advance(2.5)
    assert await poller.round({env.org}) == 1
    assert (await env.live(iid))["req"] == '{"sales":3}'
    env.clock.advance(3)
    assert await poller.round({env.org}) == 1
    assert (await env.live(iid))["state"] == "abandoned"
    assert await env.redis.zcard(keys.timers(env.org)) == 0


async def test_enqueue_that_skips_the_add_is_caught_by_probation(env):
    """The writer's memo says it added the org moments ago, but a poller removed it since."""
    q = await env.queue(**SALES, max_wait_s=5)
    poller = poller_for(env)
    await enqueue_record(env.router, q, record(env), customer_name=None)
    await env.redis.delete(keys.timers(env.org))  # the first one is done with
    await idle_long_enough(env, poller)
    await poller.round({env.org})
    assert not await member(env.redis, env.org)
    late = record(env)
    active_orgs._memo(env.redis)[env.org] = time.monotonic()  # as if it had just added the org
    await enqueue_record(env.router, q, late, customer_name=None)
    assert not await member(env.redis, env.org), "the memo skipped the add"
    await poller.round(set())
    assert await member(env.redis, env.org), "probation saw the timer and put the org back"
    env.clock.advance(6)
    assert await poller.round({env.org}) == 1
    assert (await env.live(str(late["id"])))["state"] == "abandoned"


async def test_slow_work_adds_the_org_again_after_it_lands(env):
    started = time.monotonic()
    await active_orgs.while_active(env.redis, env.org, asyncio.sleep(0))
    first = active_orgs._memo(env.redis)[env.org]
    assert first >= started and await member(env.redis, env.org)
    await env.redis.srem(keys.active_orgs(), env.org)

    async def slow() -> None:
        await asyncio.sleep(active_orgs.TOUCH_EVERY_S + 0.05)

    await active_orgs.while_active(env.redis, env.org, slow())
    assert await member(env.redis, env.org)
    assert active_orgs._memo(env.redis)[env.org] > first


async def test_two_pollers_fire_each_timer_exactly_once(env, redis_url):
    clients = [aioredis.from_url(redis_url, decode_responses=True) for _ in range(2)]
    try:
        pollers = [poller_for(env, c) for c in clients]
        for p in pollers:
            p.due_limit = 7  # many small claims, so the two interleave
        now = ms(env.clock.now())
        members = {f"probe|{i}": now - i for i in range(120)}
        await env.redis.zadd(keys.timers(env.org), members)
        await active_orgs.add(env.redis, env.org)
        for _ in range(12):
            await asyncio.gather(*(p.round({env.org}) for p in pollers))
        fired = Counter(m for p in pollers for m in p.fired)  # type: ignore[attr-defined]
        assert set(fired) == set(members)
        assert max(fired.values()) == 1
        assert all(p.fired for p in pollers), "both took a share"  # type: ignore[attr-defined]
        assert await env.redis.zcard(keys.timers(env.org)) == 0
    finally:
        for c in clients:
            await c.aclose()


async def test_sweep_is_taken_once_and_only_with_an_agent_and_someone_waiting(env):
    await env.queue(**SALES)
    poller = poller_for(env)
    [r] = (await poller.claim([env.org], sweep_ms=900)).values()
    assert not isinstance(r, Exception) and not r.swept, "nobody waiting, nobody online"
    await env.interaction("sales")
    await env.agent("a", {"billing": 5})  # online, but nothing it could take: the interaction waits
    [r] = (await poller.claim([env.org], sweep_ms=900)).values()
    assert not isinstance(r, Exception) and r.swept
    assert 0 < await env.redis.pttl(keys.sweep_lock(env.org)) <= 900
    [r] = (await poller.claim([env.org], sweep_ms=900)).values()
    assert not isinstance(r, Exception) and not r.swept, "another round within the second"


async def test_reconciler_backstop_adds_only_orgs_with_timers_or_online_agents(env, redis):
    await env.queue(**SALES)
    quiet, timed = f"{env.org}q", f"{env.org}t"
    await redis.zadd(keys.timers(timed), {"probe|x": ms(env.clock.now())})
    await env.agent("a", {"sales": 5})
    try:
        busy = await active_orgs.add_busy(redis, [env.org, quiet, timed])
        assert sorted(busy) == sorted([env.org, timed])
        assert await member(redis, env.org) and await member(redis, timed)
        assert not await member(redis, quiet)
    finally:
        await redis.delete(keys.timers(timed))
        await redis.srem(keys.active_orgs(), timed)


async def test_unloaded_script_is_loaded_and_the_round_still_fires(env, monkeypatch):
    """NOSCRIPT (a restarted Redis) without flushing the shared server's scripts: a script text no
    one has loaded yet."""
    text = scripts.TIMERS_DUE + f"\n-- {uuid.uuid4()}\n"
    monkeypatch.setattr(scripts, "TIMERS_DUE", text)
    poller = poller_for(env)
    await env.redis.zadd(keys.timers(env.org), {"probe|a": ms(env.clock.now())})
    assert await poller.round({env.org}) == 1
    assert poller.fired == ["probe|a"]  # type: ignore[attr-defined]


async def test_stopping_puts_orgs_on_probation_back(env):
    poller = poller_for(env)
    await active_orgs.add(env.redis, env.org)
    await idle_long_enough(env, poller)
    await poller.round({env.org})
    assert not await member(env.redis, env.org)
    await poller.pruner.release()
    assert await member(env.redis, env.org) and not poller.pruner.on_probation


def test_probation_shorter_than_the_add_interval_is_refused(env):
    with pytest.raises(ValueError):
        TimerPoller(env.redis, env.router, env.clock, probation_s=active_orgs.TOUCH_EVERY_S)
