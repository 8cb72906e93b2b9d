"""The per-process profile cache logins read: one query per org, dropped when the config version moves."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from agents.model import AgentProfile
from agents.store import ProfileCache, _OrgProfiles, create_user


class CountingCache(ProfileCache):
    """Counts the org-wide reads (a subclass, not a mock: the reads still go to PostgreSQL)."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 5.0) -> None:
        super().__init__(pool, ttl_s)
        self.loads = 0

    async def _fetch(self, org_id: str, version: str) -> _OrgProfiles:
        self.loads += 1
        return await super()._fetch(org_id, version)


async def test_a_login_storm_reads_the_org_once(pool, org):
    cache = CountingCache(pool)
    ids = [org.users[org.email(f"agent{i}")] for i in range(1, 6)]
    got = await asyncio.gather(*(cache.get(org.id, a, "7") for a in ids * 4))
    assert [p.id if p else None for p in got] == ids * 4
    assert cache.loads == 1
    ada = got[0]
    assert isinstance(ada, AgentProfile) and ada.display_name == "Ada Agent"
    assert ada.skills == {"sales": 8, "support": 5} and ada.org_id == org.id


async def test_an_edit_shows_once_the_version_moves_or_the_entry_expires(pool, org):
    cache = CountingCache(pool)
    ada = org.users[org.email("agent1")]
    assert (await cache.get(org.id, ada, "1")).skills == {"sales": 8, "support": 5}  # type: ignore[union-attr]
    await pool.execute("UPDATE users SET skills=$3 WHERE org_id=$1 AND id=$2", org.id, uuid.UUID(ada), {"sales": 2})
    assert (await cache.get(org.id, ada, "1")).skills == {"sales": 8, "support": 5}  # type: ignore[union-attr]
    assert (await cache.get(org.id, ada, "2")).skills == {"sales": 2}  # type: ignore[union-attr]
    assert cache.loads == 2

    short = CountingCache(pool, ttl_s=0.05)
    assert (await short.get(org.id, ada, "2")).skills == {"sales": 2}  # type: ignore[union-attr]
    await pool.execute("UPDATE users SET active=false WHERE org_id=$1 AND id=$2", org.id, uuid.UUID(ada))
    await asyncio.sleep(0.1)
    assert await short.get(org.id, ada, "2") is None
    assert short.loads == 2


async def test_agents_created_after_the_load_are_found_and_non_agents_are_not(pool, org):
    cache = CountingCache(pool)
    assert await cache.get(org.id, org.users[org.email("agent2")], "1") is not None
    row = await create_user(pool, org.id, email=f"new-{org.id}@x.test", password_hash="x", role="agent",
                            display_name="New Agent", skills={"billing": 3})
    new = await cache.get(org.id, str(row["id"]), "1")
    assert new is not None and new.skills == {"billing": 3} and new.display_name == "New Agent"
    assert await cache.get(org.id, org.users[org.email("supervisor")], "1") is None
    assert await cache.get(org.id, "not-a-uuid", "1") is None
    assert cache.loads == 1
