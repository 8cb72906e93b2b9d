"""The system under test: a dedicated benchmark database and Redis db, a seeded org, and server processes.

Everything runs on this machine (PostgreSQL, Redis, servers, load generator share the cores), which is
what the goals in issue #10 are stated for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from licensing.demo import DEV_PRIVATE_KEY, dev_public_key
from licensing.documents import License, sign_license
from licensing.service import LicenseService
from switchboard.clock import SystemClock
from switchboard.db import create_pool, migrate
from switchboard.demo import seed_org
from switchboard.process import ServerProcess
from switchboard.process import free_port as free_port  # callers use stack.free_port
from web.auth import hash_password, issue_token

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("SWITCHBOARD_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5440/postgres")
BENCH_DB = "switchboard_bench"
DATABASE_URL = ADMIN_URL.rsplit("/", 1)[0] + "/" + BENCH_DB
REDIS_URL = os.environ.get("SWITCHBOARD_BENCH_REDIS_URL", "redis://127.0.0.1:6390/5")
SECRET = "bench-secret-" + "x" * 32
SKILLS = {"sales": 5, "billing": 5, "support": 5}
NOFILE = 65535


def raise_nofile() -> None:
    """Lift this process's open-file limit as far as the hard limit allows (sockets are files)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def fresh_database() -> None:
    """Drop and recreate the benchmark database, then migrate it."""
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    finally:
        await conn.close()
    await migrate(DATABASE_URL)


@dataclass
class BenchOrg:
    id: str
    api_key: str
    agent_ids: list[str]
    tokens: list[str] = field(default_factory=list)


def signed_license(org_id: str, model: str, seats: int) -> str:
    now = datetime.fromtimestamp(time.time(), UTC)
    lic = License(license_id=f"{org_id}-{model}-{seats}", org_id=org_id, model=model,  # type: ignore[arg-type]
                  seats=seats, period="month", timezone="UTC",
                  valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=30))
    return sign_license(lic, DEV_PRIVATE_KEY.read_bytes())


async def seed(n_agents: int, *, org_id: str | None = None, seats: int | None = None) -> BenchOrg:
    """A demo-shaped org plus n_agents agents serving every queue, a concurrent license, and agent tokens."""
    org_id = org_id or f"bench{uuid.uuid4().hex[:8]}"
    api_key = f"key-{org_id}"
    pool = await create_pool(DATABASE_URL, 1, 4)
    redis = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        await seed_org(pool, redis, SystemClock(), org_id, email_domain=f"{org_id}.bench", api_key=api_key,
                       licenses=False)
        pw = hash_password("switchboard")
        ids = [uuid.uuid4() for _ in range(n_agents)]
        await pool.executemany(
            "INSERT INTO users (id, org_id, email, password_hash, role, display_name, skills)"
            " VALUES ($1, $2, $3, $4, 'agent', $5, $6)",
            [(uid, org_id, f"bench{i}@{org_id}.bench", pw, f"Bench Agent {i}", SKILLS) for i, uid in enumerate(ids)],
        )
        key = dev_public_key()
        svc = LicenseService(pool, redis, key if isinstance(key, bytes) else str(key).encode(), SystemClock())
        await svc.upload(org_id, signed_license(org_id, "concurrent", seats or max(n_agents, 25)), actor="bench")
    finally:
        await redis.aclose()
        await pool.close()
    agent_ids = [str(u) for u in ids]
    tokens = [issue_token(SECRET, org_id, a, "agent", 24 * 3600)[0] for a in agent_ids]
    return BenchOrg(org_id, api_key, agent_ids, tokens)


async def flush_redis() -> None:
    """The benchmark's own Redis db starts empty (it is never the tests' or the app's db), with its
    AOF rewritten (settle_aof)."""
    r = aioredis.from_url(REDIS_URL)
    try:
        await r.flushdb()
        await settle_aof(r)
    finally:
        await r.aclose()


async def settle_aof(redis: aioredis.Redis) -> None:
    """Rewrite Redis's AOF now and wait for it, so no rewrite starts during the samples.

    Redis rewrites its AOF once it has doubled (and is over 64 MB): a fork, and a child busy on one
    of the two cores for seconds. Back-to-back benchmark runs, or filling 100,000 waiting
    interactions, grow it that much, and a run the rewrite landed in measured it (p99 at 300/s: 179 ms
    in the run with a rewrite, 29 and 42 ms in two without). A Redis without AOF has nothing to wait for.
    """
    if (await redis.info("persistence")).get("aof_enabled") != 1:
        return
    with contextlib.suppress(ResponseError):  # one already under way: wait for that
        await redis.bgrewriteaof()
    while (await redis.info("persistence")).get("aof_rewrite_in_progress") == 1:
        await asyncio.sleep(0.1)


class Server(ServerProcess):
    """One `switchboard serve` process on a given port, with the benchmark's database, Redis db and limits."""

    def __init__(self, port: int, node_id: str = "bench1", **env: str) -> None:
        super().__init__(
            {
                "SWITCHBOARD_DATABASE_URL": DATABASE_URL,
                "SWITCHBOARD_REDIS_URL": REDIS_URL,
                "SWITCHBOARD_SECRET_KEY": SECRET,
                "SWITCHBOARD_NODE_ID": node_id,
                "SWITCHBOARD_LOG_LEVEL": "WARNING",
                "SWITCHBOARD_LOGIN_RATE_PER_MIN": "10000000",
                "SWITCHBOARD_INTAKE_RATE_PER_S": "10000000",
                **env,
            },
            ROOT / "test-artifacts" / f"bench-{node_id}.log",
            port=port,
            stop_timeout_s=15,
            preexec_fn=raise_nofile,
        )

    def rss_mib(self) -> float:
        return rss_mib(self.pid)

    def cpu_s(self) -> float:
        """User + system CPU seconds the process has used (robust to other load on the box)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

