"""The demo organisation of DESIGN.md §7, seeded only when asked for (idempotent)."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from queues.config import save_queue
from queues.model import QueueConfig
from switchboard.clock import Clock
from web.auth import api_key_hash, hash_password

DEMO_ORG = "demo"
DEMO_PASSWORD = "switchboard"
DEMO_API_KEY = "demo-integration-key"
AGENTS = [
    ("agent1@demo.test", "Ada Agent", {"sales": 8, "support": 5}),
    ("agent2@demo.test", "Ben Agent", {"billing": 7, "support": 6}),
    ("agent3@demo.test", "Cleo Agent", {"sales": 5, "billing": 5, "spanish": 9}),
    ("agent4@demo.test", "Dev Agent", {"support": 9, "spanish": 6}),
    ("agent5@demo.test", "Eve Agent", {"sales": 6, "billing": 8, "support": 4}),
]
QUEUES = [
    QueueConfig(name="sales", channels=["chat", "sms", "whatsapp", "email"], skills={"sales": 1}),
    QueueConfig(
        name="billing", channels=["chat", "sms", "whatsapp", "email"], skills={"billing": 1}, strategy="most_skilled"
    ),
    QueueConfig(
        name="support", channels=["chat", "sms", "whatsapp", "email"], skills={"support": 1}, strategy="least_occupied"
    ),
]


async def seed_org(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    clock: Clock,
    org_id: str = DEMO_ORG,
    *,
    email_domain: str = "demo.test",
    api_key: str = DEMO_API_KEY,
    password: str = DEMO_PASSWORD,
    licenses: bool = True,
) -> dict[str, str]:
    """Create (or top up) an org with the demo's users, queues, codes, key and licenses; returns user ids by email."""
    pw = hash_password(password)
    ids: dict[str, str] = {}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO orgs (id, name, timezone) VALUES ($1, $2, 'UTC') ON CONFLICT DO NOTHING",
            org_id,
            f"{org_id.title()} Contact Center",
        )
        users: list[tuple[str, str, str, dict[str, int]]] = [
            (f"admin@{email_domain}", "Alex Admin", "admin", {}),
            (f"supervisor@{email_domain}", "Sam Supervisor", "supervisor", {}),
        ]
        users += [(e.replace("demo.test", email_domain), n, "agent", s) for e, n, s in AGENTS]
        for email, name, role, skills in users:
            row = await conn.fetchrow(
                "INSERT INTO users (id, org_id, email, password_hash, role, display_name, skills)"
                " VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6) ON CONFLICT (lower(email)) DO UPDATE"
                " SET email=EXCLUDED.email RETURNING id",
                org_id,
                email,
                pw,
                role,
                name,
                skills,
            )
            ids[email] = str(row["id"])
        for skill in ("sales", "billing", "support", "spanish"):
            await conn.execute("INSERT INTO skills (org_id, name) VALUES ($1,$2) ON CONFLICT DO NOTHING", org_id, skill)
        for code, label in (
            ("break", "Break"),
            ("lunch", "Lunch"),
            ("meeting", "Meeting"),
            ("rona", "No answer (RONA)"),
        ):
            await conn.execute("INSERT INTO idle_codes VALUES ($1,$2,$3) ON CONFLICT DO NOTHING", org_id, code, label)
        for code, label in (("resolved", "Resolved"), ("follow_up", "Follow-up needed"), ("escalated", "Escalated")):
            await conn.execute(
                "INSERT INTO wrap_up_codes VALUES ($1,$2,$3) ON CONFLICT DO NOTHING", org_id, code, label
            )
        await conn.execute(
            "INSERT INTO api_keys (id, org_id, name, key_hash, prefix) VALUES (gen_random_uuid(), $1, 'demo', $2, $3)"
            " ON CONFLICT (key_hash) DO NOTHING",
            org_id,
            api_key_hash(api_key),
            api_key[:8],
        )
    for q in QUEUES:
        await save_queue(pool, redis, org_id, q)
    if licenses:
        from licensing.demo import demo_licenses
        from licensing.service import LicenseService

        svc = LicenseService(pool, redis, _dev_public_key(), clock)
        for doc in demo_licenses(org_id, clock.now()):
            await svc.upload(org_id, doc, actor="seed")
    return ids


def _dev_public_key() -> bytes:
    from licensing.demo import dev_public_key

    key = dev_public_key()
    return key if isinstance(key, bytes) else str(key).encode()
