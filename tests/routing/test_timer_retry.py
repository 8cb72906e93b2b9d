"""A timer whose handler fails (a Redis connection that died in a restart, a PostgreSQL blip) runs
again a second later, then two, four..., not when its 30 s claim lease runs out: an unanswered offer
met by such a blip must not wait half a minute more to be re-offered."""

from __future__ import annotations

from typing import Any

from routing.timers import LEASE_MS
from switchboard import keys
from switchboard.clock import ms


async def test_a_failed_timer_comes_back_in_a_second_then_backs_off(env: Any) -> None:
    calls: list[str] = []

    async def flaky(org_id: str, parts: list[str], member: str) -> None:
        calls.append(member)
        if len(calls) <= 2:
            raise ConnectionError("Connection closed by server.")
        await env.redis.zrem(keys.timers(org_id), member)  # done, as the real handlers do in their scripts

    env.poller.handlers["flaky"] = flaky
    timers = keys.timers(env.org)
    member = "flaky|x"
    await env.redis.zadd(timers, {member: ms(env.clock.now())})

    assert await env.poller.fire_due(env.org) == 1
    assert await env.redis.zscore(timers, member) == ms(env.clock.now()) + 1000  # not + LEASE_MS
    assert LEASE_MS > 1000
    env.clock.advance(1)
    assert await env.poller.fire_due(env.org) == 1
    assert await env.redis.zscore(timers, member) == ms(env.clock.now()) + 2000
    env.clock.advance(1)
    assert await env.poller.fire_due(env.org) == 0, "not due yet: the second failure waits 2 s"
    env.clock.advance(1)
    assert await env.poller.fire_due(env.org) == 1
    assert calls == [member] * 3
    assert await env.redis.zscore(timers, member) is None


async def test_a_timer_its_handler_finished_is_not_brought_back(env: Any) -> None:
    async def done_then_fails(org_id: str, parts: list[str], member: str) -> None:
        await env.redis.zrem(keys.timers(org_id), member)
        raise RuntimeError("failed after its work was done")

    env.poller.handlers["late"] = done_then_fails
    await env.redis.zadd(keys.timers(env.org), {"late|y": ms(env.clock.now())})
    await env.poller.fire_due(env.org)
    assert await env.redis.zscore(keys.timers(env.org), "late|y") is None
