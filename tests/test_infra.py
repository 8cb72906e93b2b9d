from switchboard.db import migration_files


async def test_migrations_recorded(pool):
    versions = [r["version"] for r in await pool.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [v for v, _ in migration_files()]


async def test_redis_is_real(redis, org_id):
    key = f"sb:{{{org_id}}}:probe"
    await redis.set(key, "1", ex=5)
    assert await redis.incr(key) == 2
