"""The `switchboard` command: serve, migrate, seed-demo, reconcile, and the vendor's license tools."""

from __future__ import annotations

import argparse
import asyncio
import sys

from switchboard.settings import get_settings


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from switchboard import gcpolicy
    from switchboard.logs import configure
    from web.app import create_app

    settings = get_settings()
    if args.port:
        settings.port = args.port
    configure(settings.log_level)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    app = create_app(settings)

    async def settle_gc(_: web.Application) -> None:
        gcpolicy.settle()

    app.on_startup.append(settle_gc)  # after the app's own start-up
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None, handle_signals=True)
    return 0


async def _migrate() -> int:
    from switchboard.db import migrate

    applied = await migrate(get_settings().database_url)
    print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
    return 0


async def _seed() -> int:

    from switchboard import redis_conn
    from switchboard.clock import SystemClock
    from switchboard.db import create_pool
    from switchboard.demo import DEMO_API_KEY, seed_org

    s = get_settings()
    pool = await create_pool(s.database_url, 1, 2)
    redis = redis_conn.connect(s.redis_url, max_connections=8, cluster=s.redis_cluster)
    try:
        await seed_org(pool, redis, SystemClock())
    finally:
        await redis.aclose()
        await pool.close()
    print(
        f"demo org seeded: admin@demo.test / supervisor@demo.test / agent1..5@demo.test, password 'switchboard';"
        f" API key {DEMO_API_KEY}"
    )
    return 0


async def _reconcile() -> int:

    from queues.config import QueueCache
    from routing.reconciler import reconcile_all
    from routing.router import Router
    from switchboard import redis_conn
    from switchboard.clock import SystemClock
    from switchboard.db import create_pool

    s = get_settings()
    pool = await create_pool(s.database_url, 1, 4)
    redis = redis_conn.connect(s.redis_url, max_connections=8, cluster=s.redis_cluster)
    try:
        queues = QueueCache(pool, redis)
        counts = await reconcile_all(pool, redis, Router(redis, pool, SystemClock(), queues), queues)
    finally:
        await redis.aclose()
        await pool.close()
    print(f"reconciled: {counts}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from licensing import cli as license_cli

    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API, Socket.IO and pages")
    serve.add_argument("--port", type=int, default=None)
    sub.add_parser("migrate", help="apply pending SQL migrations")
    sub.add_parser("seed-demo", help="create the demo organisation (idempotent)")
    sub.add_parser("reconcile", help="rebuild missing live state in Redis from PostgreSQL")
    license_cli.add_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        return asyncio.run(_migrate())
    if args.command == "seed-demo":
        return asyncio.run(_seed())
    if args.command == "reconcile":
        return asyncio.run(_reconcile())
    if args.command == "license":
        return int(license_cli.run(args))
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
