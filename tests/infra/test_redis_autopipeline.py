"""The auto-pipelining Redis client: batched round trips, but each caller keeps its own result and error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from switchboard import redis_conn


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = redis_conn.connect(redis_url)
    yield c
    await c.aclose()


@pytest.fixture
def key() -> str:
    return f"test:autopipe:{uuid.uuid4().hex}"


async def test_concurrent_commands_share_one_connection_and_get_their_own_results(
    redis_url: str, redis: aioredis.Redis, key: str
) -> None:
    name = f"autopipe{uuid.uuid4().hex[:8]}"
    client = redis_conn.connect(f"{redis_url}?client_name={name}")
    results = await asyncio.gather(*(client.incrby(key, 1) for _ in range(300)))
    assert sorted(results) == list(range(1, 301))
    assert await client.get(key) == "300"
    # 300 concurrent commands went out as pipelines of up to MAX_BATCH, one connection each, where
    # plain redis-py opens a connection per command in flight
    batches = -(-300 // redis_conn.MAX_BATCH)
    assert [c["name"] for c in await redis.client_list()].count(name) == batches
    await client.delete(key)
    await client.aclose()


async def test_an_error_reaches_only_the_command_that_caused_it(client: aioredis.Redis, key: str) -> None:
    await client.set(key, "text")
    ok, bad, also_ok = await asyncio.gather(
        client.get(key), client.hget(key, "field"), client.strlen(key), return_exceptions=True
    )
    assert ok == "text" and also_ok == 4
    assert isinstance(bad, ResponseError) and "WRONGTYPE" in str(bad)
    await client.delete(key)


async def test_scripts_unknown_to_redis_are_loaded_in_a_batch(client: aioredis.Redis, key: str) -> None:
    # a source Redis has never seen (SCRIPT FLUSH would pull scripts from under other tests)
    script = client.register_script(f"-- {uuid.uuid4().hex}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await client.script_exists(script.sha) == [False]
    results = await asyncio.gather(*(script(keys=[key], args=[1]) for _ in range(20)))
    assert sorted(results) == list(range(1, 21))
    assert await client.script_exists(script.sha) == [True]
    await client.delete(key)


async def test_a_caller_cancelled_before_the_send_does_not_run(client: aioredis.Redis, key: str) -> None:
    await client.delete(key)
    doomed = asyncio.create_task(client.incr(key))
    await asyncio.sleep(0)  # the task has queued its command; the batch is not sent yet
    doomed.cancel()
    kept = await client.incr(key + ":other")
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert kept == 1
    assert await client.get(key) is None
    await client.delete(key + ":other")


async def test_blocking_commands_do_not_hold_up_the_batch(client: aioredis.Redis, key: str) -> None:
    blocked = asyncio.create_task(client.blpop([key], timeout=2))
    await asyncio.sleep(0.05)
    t0 = asyncio.get_running_loop().time()
    assert await asyncio.gather(*(client.ping() for _ in range(10))) == [True] * 10
    assert asyncio.get_running_loop().time() - t0 < 1.0
    await client.rpush(key, "x")
    assert tuple(await blocked) == (key, "x")


async def test_every_caller_gets_the_error_when_redis_is_unreachable() -> None:
    down = redis_conn.connect("redis://127.0.0.1:1/0", timeout_s=1)
    results = await asyncio.gather(*(down.get("k") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RedisConnectionError) for r in results), results
    await down.aclose()


async def test_one_script_object_per_source(client: aioredis.Redis) -> None:
    source = "return 1"
    assert client.register_script(source) is client.register_script(source.encode())
    assert client.register_script(source) is not client.register_script("return 2")


async def _script_loads(redis: aioredis.Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_script|load", {}).get("calls", 0))


async def test_callers_meeting_noscript_together_load_the_script_once(client: aioredis.Redis, key: str) -> None:
    """After a restart a round over every org calls a script at once; each caller loading it for
    itself ran a cluster client out of connections (a load goes to every node)."""
    script = client.register_script(f"return redis.call('INCR', KEYS[1]) -- {uuid.uuid4().hex}")
    await client.script_flush()  # as a restarted Redis (other clients reload theirs on NOSCRIPT)
    before = await _script_loads(client)
    results = await asyncio.gather(*(script(keys=[key]) for _ in range(200)))
    assert sorted(results) == list(range(1, 201))
    # ours loaded once; the test server's own scripts may reload meanwhile, a few, never 200
    assert await _script_loads(client) - before < 30
