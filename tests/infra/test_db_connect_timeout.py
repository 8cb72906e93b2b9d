"""A PostgreSQL that takes the TCP connection and never answers (a partition, a hung host) fails a
query within the connect timeout, as PostgreSQL down, instead of holding it for asyncpg's 60 s:
long enough that a provider's webhook (Twilio: 15 s) gives up before the spool could keep it."""

from __future__ import annotations

import asyncio
import time

import pytest

from switchboard.db import PG_DOWN, create_pool


async def test_a_silent_postgres_fails_fast_as_postgres_down() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = await create_pool(f"postgresql://postgres@127.0.0.1:{port}/gone", 0, 1, connect_timeout_s=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(PG_DOWN):
            await pool.fetchval("SELECT 1")
        assert time.monotonic() - started < 3
        assert held, "the connection reached the silent server (it timed out there, not on a refusal)"
    finally:
        await pool.close()
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()
