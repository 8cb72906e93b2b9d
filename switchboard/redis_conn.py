"""One Redis client per process: a blocking pool, and commands issued in the same event-loop turn
sent together as one pipeline.

Under load many coroutines each await one command (a routing script, a rate check, a lookup).
redis-py spends 30-70 µs of CPU on every single command (pool checkout, retry wrapper, send,
parse, release), which made the client the largest item in the server's profile. Coalescing the
commands issued while the loop was busy into one pipeline pays that once per batch; each caller
still gets its own result or its own error, and commands from one coroutine stay in order
because it awaits each before the next. With one command pending the pipeline is skipped.

With ``cluster=True`` the client is redis-py's Redis Cluster client instead (see ClusterRedis).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Commands that block, hold connection state or must not share a round trip with others.
SOLO = frozenset(
    {
        "BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP",
        "XREAD", "XREADGROUP", "WAIT", "WAITAOF", "MONITOR", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE",
        "WATCH", "UNWATCH", "MULTI", "EXEC", "DISCARD", "SELECT", "CLIENT", "QUIT", "RESET", "HELLO",
        "AUTH", "SHUTDOWN", "DEBUG",
    }
)  # fmt: skip
MAX_BATCH = 256
# Failures that mean Redis (or the way to it) is down for now, not that a command is wrong.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)


class Script:
    """A Lua script run by SHA, loaded again on NOSCRIPT (a restarted or flushed Redis).

    Called like redis-py's ``AsyncScript``; one small object both clients below return, so a script
    call is one EVALSHA that the auto-pipelining client can batch and the cluster client can route.
    """

    def __init__(self, client: aioredis.Redis, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self._loading: asyncio.Future[Any] | None = None

    async def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = (), client: Any = None) -> Any:
        c = self.client if client is None else client
        if isinstance(c, Pipeline):  # queued on someone's pipeline: redis-py's way loads it at execute
            return await AsyncScript(c, self.source)(keys=keys, args=args, client=c)
        try:
            return await c.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self._load(c)
            return await c.evalsha(self.sha, len(keys), *keys, *args)

    async def _load(self, c: Any) -> None:
        """One SCRIPT LOAD for all the callers that met NOSCRIPT together. After a restart a poller
        round calls a script for every org at once; on a cluster each load goes to every node, and
        hundreds of them ran the client out of connections (MaxConnectionsError)."""
        if self._loading is None or self._loading.done():
            self._loading = asyncio.ensure_future(c.script_load(self.source))
        await asyncio.shield(self._loading)


class ScriptRegistry:
    """``register_script`` hands out one Script per source for the client's life, so a caller may
    register where it calls (the source is a module constant) for the price of a dict lookup."""

    _scripts: dict[str, Script]

    def register_script(self, script: Any) -> Script:
        source = script if isinstance(script, str) else script.decode()
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = Script(self, source)
        return found


class AutoPipelineRedis(ScriptRegistry, aioredis.Redis):
    """A redis-py client whose commands, when several are pending at once, share one pipeline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scripts = {}
        self._pending: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] = []
        self._flights: set[asyncio.Task[None]] = set()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        name = args[0]
        if isinstance(name, bytes):
            name = name.decode()
        if self.connection is not None or str(name).upper().split(" ", 1)[0] in SOLO:
            return await super().execute_command(*args, **options)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((args, options, fut))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for i in range(0, len(pending), MAX_BATCH):
            task = asyncio.ensure_future(self._send(pending[i : i + MAX_BATCH]))
            self._flights.add(task)
            task.add_done_callback(self._flights.discard)

    async def _send(self, batch: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]]) -> None:
        live = [b for b in batch if not b[2].done()]  # a caller cancelled before the send: skip it
        if not live:
            return
        try:
            if len(live) == 1:
                results: list[Any] = [await super().execute_command(*live[0][0], **live[0][1])]
            else:
                pipe = self.pipeline(transaction=False)
                pipe.command_stack.extend((args, options) for args, options, _ in live)
                results = await pipe.execute(raise_on_error=False)
        except Exception as e:
            for _, _, fut in live:
                if not fut.done():
                    fut.set_exception(e)
            return
        except BaseException:  # cancelled (shutdown): so are the callers
            for _, _, fut in live:
                fut.cancel()
            raise
        for (_, _, fut), result in zip(live, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, Exception):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        if self._flights:
            await asyncio.gather(*self._flights, return_exceptions=True)
        await super().aclose(close_connection_pool)


class ClusterRedis(ScriptRegistry, RedisCluster):
    """A Redis Cluster client: commands go to the node owning the key's slot. Every key of an org
    carries the hash tag ``{org}`` (switchboard/keys.py), so an org's scripts, pipelines and
    transactions stay within one slot. Not auto-pipelined: the cluster pipeline splits by node.

    redis-py's cluster client fails a command (MaxConnectionsError) when a node's connections are
    all busy, where the single-Redis pool waits; commands in flight are capped at that many so a
    burst (a poller round over every org) waits its turn instead."""

    def __init__(self, *args: Any, max_connections: int = 200, **kwargs: Any) -> None:
        super().__init__(*args, max_connections=max_connections, **kwargs)
        self._scripts = {}
        self._in_flight = asyncio.Semaphore(max_connections)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._in_flight:
            return await super().execute_command(*args, **kwargs)


def connect(url: str, max_connections: int = 200, timeout_s: float = 10.0, *, cluster: bool = False) -> Any:
    """The process's client: ``aioredis.Redis``-compatible, for one Redis or (``cluster``) a Redis Cluster."""
    if cluster:
        return ClusterRedis.from_url(url, decode_responses=True, max_connections=max_connections)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout_s, decode_responses=True
    )
    return AutoPipelineRedis(connection_pool=pool)
