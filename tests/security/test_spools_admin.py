"""An org's admin sees what waits in Redis for PostgreSQL and what PostgreSQL refused, puts refused
entries back (the next reconcile tick writes them, once) or discards them. Another org's admin sees
and touches none of it."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
from harness import Org, login_token

from switchboard import keys


async def call(http: aiohttp.ClientSession, org: Org, token: str, method: str, path: str) -> tuple[int, Any]:
    async with http.request(method, f"{org.base}{path}", headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


async def test_refused_entries_are_shown_retried_and_written_once_or_discarded(http, org, other_org, redis, pool):
    admin = await login_token(http, org, "admin")
    stranger = await login_token(http, other_org, "admin")
    # a report entry PostgreSQL refused once (nothing wrong with it now), and a webhook entry that is junk
    entry_id = uuid.uuid4().hex
    await redis.hset(keys.report_spool_refused(org.id), entry_id, json.dumps({"id": entry_id, "reports": [[{}, 0]]}))
    await redis.hset(keys.inbound_spool_refused(org.id), "sha1:junk", "not json")

    status, seen = await call(http, org, admin, "GET", "/api/v1/spools")
    assert status == 200, seen
    assert (seen["reports"]["refused"], seen["webhooks"]["refused"]) == (1, 1), seen
    assert seen["reports"]["refused_entries"] == [{"id": entry_id, "entry": {"id": entry_id, "reports": [[{}, 0]]}}]
    assert seen["webhooks"]["refused_entries"] == [{"id": "sha1:junk", "entry": "not json"}]

    # the other org's admin sees its own (empty) spools and retries nothing of this org's
    status, theirs = await call(http, other_org, stranger, "GET", "/api/v1/spools")
    assert status == 200 and theirs["reports"]["refused"] == 0 and theirs["webhooks"]["refused"] == 0, theirs
    assert (await call(http, other_org, stranger, "POST", "/api/v1/spools/reports/retry"))[1]["entries"] == 0
    assert await redis.hlen(keys.report_spool_refused(org.id)) == 1

    status, moved = await call(http, org, admin, "POST", "/api/v1/spools/reports/retry")
    assert (status, moved) == (200, {"spool": "reports", "entries": 1})
    for _ in range(60):  # the test server's next reconcile tick (every 5 s) writes it
        if await pool.fetchval("SELECT 1 FROM report_spool_applied WHERE id=$1", entry_id):
            break
        await asyncio.sleep(0.25)
    else:
        raise AssertionError("the retried entry was never written")
    assert await redis.llen(keys.report_spool(org.id)) == 0
    assert await redis.hlen(keys.report_spool_refused(org.id)) == 0

    status, gone = await call(http, org, admin, "DELETE", "/api/v1/spools/webhooks/refused")
    assert (status, gone) == (200, {"spool": "webhooks", "entries": 1})
    assert (await call(http, org, admin, "GET", "/api/v1/spools"))[1]["webhooks"]["refused"] == 0
    status, err = await call(http, org, admin, "POST", "/api/v1/spools/nothing/retry")
    assert status == 404 and err["error"]["code"] == "not_found", err
