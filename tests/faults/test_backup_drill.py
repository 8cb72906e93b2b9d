"""Backup and restore drill: pg_dump a live system, restore into a new database with an empty
Redis, and the reconciler puts every waiting interaction back in its queue, in order."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

import pytest
from harness import intake

from switchboard import keys, redis_conn
from switchboard.db import create_pool

pytestmark = pytest.mark.slow
DRILL = Path(__file__).resolve().parents[2] / "deploy" / "local" / "backup_drill.sh"


async def test_dump_restore_reconcile_restores_queues_in_order(http, org, database_url, redis_url):
    ids = []
    for prio in (1, 7, 1, 9):
        status, body = await intake(
            http,
            org,
            {
                "channel": "email",
                "queue": "billing",
                "priority": prio,
                "customer": {"identity": {"type": "email", "value": f"{prio}@x.test"}},
            },
        )
        assert status == 201 and body["state"] == "queued"
        ids.append((prio, body["id"]))
        await asyncio.sleep(0.01)
    target = f"drill_{uuid.uuid4().hex[:8]}"
    empty_redis = redis_url.rsplit("/", 1)[0] + "/9"
    r = redis_conn.connect(empty_redis, 2)
    await r.flushdb()
    out = await asyncio.to_thread(
        subprocess.run, ["bash", str(DRILL), database_url, target, empty_redis], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "reconciled" in out.stdout
    restored = database_url.rsplit("/", 1)[0] + "/" + target
    pool = await create_pool(restored, 1, 2)
    try:
        n = await pool.fetchval("SELECT count(*) FROM interactions WHERE org_id=$1 AND queue='billing'", org.id)
        assert n == 4
        order = await r.zrange(keys.queue(org.id, "billing"), 0, -1)
        expected = [iid for _, iid in sorted(ids, key=lambda p: (-p[0], ids.index(p)))]
        assert order == expected
    finally:
        await pool.close()
        await r.flushdb()
        await r.aclose()
        admin = await create_pool(database_url.rsplit("/", 1)[0] + "/postgres", 1, 1)
        await admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        await admin.close()
