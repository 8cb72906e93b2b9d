"""One asyncpg pool per process, and versioned SQL migrations recorded in schema_migrations."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import structlog

from switchboard import jsonwire

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
log = structlog.get_logger(__name__)

# Failures that mean PostgreSQL (or the way to it) is down for now, not that a statement is wrong.
PG_DOWN = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InternalClientError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=jsonwire.dumps, decoder=jsonwire.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The app leaves no session state behind (advisory locks are transaction-scoped, no LISTEN,
    no SET), so a connection going back to the pool needs no reset query — one round trip saved
    per acquire — unless it comes back inside a transaction (a task cancelled mid-way): that one is
    rolled back, or its locks would outlive it."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


# asyncpg waits 60 s for a new connection by default. A PostgreSQL that stopped answering (a
# partition, a host gone) would hold each request that long, past a provider's webhook timeout
# (Twilio: 15 s) and the spools that keep work through an outage.
CONNECT_TIMEOUT_S = 5.0


async def create_pool(
    dsn: str, min_size: int = 2, max_size: int = 20, connect_timeout_s: float = CONNECT_TIMEOUT_S
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session,
        timeout=connect_timeout_s,
    )
    assert pool is not None
    return pool


def migration_files() -> list[tuple[str, Path]]:
    return sorted((p.name.split("_", 1)[0], p) for p in MIGRATIONS_DIR.glob("*.sql"))


async def migrate(dsn: str) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; returns the versions applied."""
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        # One migrator at a time, however many processes start together.
        await conn.execute("SELECT pg_advisory_lock(727001)")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, path in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, path.name)
            applied.append(version)
            log.info("migration_applied", version=version, name=path.name)
        await conn.execute("SELECT pg_advisory_unlock(727001)")
    finally:
        await conn.close()
    return applied
