"""One Redis client per process, on a blocking pool: a burst waits for a connection
instead of failing with "Too many connections"."""

from __future__ import annotations

import redis.asyncio as aioredis


def connect(url: str, max_connections: int = 200, timeout_s: float = 10.0) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout_s, decode_responses=True
    )
    return aioredis.Redis(connection_pool=pool)
