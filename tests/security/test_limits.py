"""Rate limits with 429 + Retry-After, body limits and content checks, secure headers, expiring and revocable tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from harness import TEST_SECRET, Org, connect_agent, free_port
from harness import test_settings as settings_for
from security_creds import Creds, token_for

from web.auth import issue_token


@pytest.fixture
async def strict_server(database_url: str, redis_url: str) -> AsyncIterator[str]:
    """A second app instance with low limits, on the same database and Redis."""
    from web.app import create_app

    # harness.test_settings pins login_rate_per_min itself, so override it after
    settings = settings_for(database_url, redis_url, intake_rate_per_s=5).model_copy(update={"login_rate_per_min": 3})
    app = create_app(settings, background=False)
    srv = TestServer(app, host="127.0.0.1", port=free_port())
    await srv.start_server()
    yield str(srv.make_url("")).rstrip("/")
    await srv.close()


async def test_login_is_rate_limited_per_email_with_retry_after(http, org: Org, strict_server):
    # the limit counts per wall-clock minute: start well inside one, so all five attempts share it
    while time.time() % 60 > 45:
        await asyncio.sleep(0.5)
    statuses = []
    for _ in range(5):
        async with http.post(f"{strict_server}/api/v1/auth/login",
                             json={"email": org.email("agent1"), "password": "wrong"}) as r:
            statuses.append(r.status)
            if r.status == 429:
                assert 1 <= int(r.headers["Retry-After"]) <= 60
                assert (await r.json())["error"]["code"] == "rate_limited"
    assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
    # another user is not held back by the first one's attempts
    async with http.post(f"{strict_server}/api/v1/auth/login",
                         json={"email": org.email("agent2"), "password": "switchboard"}) as r:
        assert r.status == 200


async def test_intake_is_rate_limited_per_api_key_with_retry_after(http, org: Org, strict_server):
    body = {"channel": "chat", "queue": "sales", "customer": {"identity": {"type": "email", "value": "rl@x.test"}}}
    headers = {"Authorization": f"Bearer {org.api_key}"}

    async def one() -> tuple[int, str | None]:
        async with http.post(f"{strict_server}/api/v1/interactions", json=body, headers=headers) as r:
            return r.status, r.headers.get("Retry-After")

    results = await asyncio.gather(*(one() for _ in range(12)))
    limited = [ra for status, ra in results if status == 429]
    assert limited, results
    assert all(ra is not None and int(ra) >= 1 for ra in limited)
    assert all(status in (201, 429) for status, _ in results)
    assert sum(1 for status, _ in results if status == 201) <= 10  # 5 a second, at most two windows


async def test_oversized_body_is_413_json(http, org: Org, creds: Creds):
    huge = {"channel": "chat", "queue": "sales", "subject": "x" * (512 * 1024),
            "customer": {"identity": {"type": "email", "value": "big@x.test"}}}
    async with http.post(f"{org.base}/api/v1/interactions", json=huge, headers=creds.headers("integration")) as r:
        assert r.status == 413
        assert (await r.json())["error"]["code"] == "payload_too_large"


async def test_wrong_content_type_is_415_and_broken_json_is_400(http, org: Org, creds: Creds):
    url = f"{org.base}/api/v1/interactions"
    h = creds.headers("integration")
    async with http.post(url, data="channel=chat", headers={**h, "Content-Type": "text/plain"}) as r:
        assert r.status == 415
        assert (await r.json())["error"]["code"] == "unsupported_media_type"
    for raw in (b'{"channel": "chat",', b"\xff\xfe", b""):
        async with http.post(url, data=raw, headers={**h, "Content-Type": "application/json"}) as r:
            assert r.status == 400, raw
            assert (await r.json())["error"]["code"] == "invalid_json"
    async with http.post(url, json=[1, 2], headers=h) as r:
        assert r.status == 422


@pytest.mark.parametrize("page", ["/", "/agent", "/supervisor", "/admin", "/reports"])
async def test_pages_carry_secure_headers(http, org: Org, page):
    async with http.get(org.base + page) as r:
        assert r.status == 200
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-eval" not in csp


async def test_api_errors_carry_nosniff(http, org: Org):
    async with http.get(f"{org.base}/api/v1/users") as r:
        assert r.status == 401
        assert r.headers["X-Content-Type-Options"] == "nosniff"


async def _agent_connect(base: str, token: str) -> object:
    sio, refused = await connect_agent(base, token)
    await sio.disconnect()
    return refused


async def test_tokens_expire(http, org: Org):
    token, _, _ = issue_token(TEST_SECRET, org.id, org.users[org.email("supervisor")], "supervisor", ttl_s=1)
    h = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{org.base}/api/v1/stats/queues", headers=h) as r:
        assert r.status == 200
    await asyncio.sleep(2.1)
    async with http.get(f"{org.base}/api/v1/stats/queues", headers=h) as r:
        assert r.status == 401
        assert "expired" in (await r.json())["error"]["message"]
    agent_token, _, _ = issue_token(TEST_SECRET, org.id, org.users[org.email("agent3")], "agent", ttl_s=1)
    await asyncio.sleep(2.1)
    refused = await _agent_connect(org.base, agent_token)
    assert isinstance(refused, dict) and refused["code"] == "unauthorized"


async def test_logout_revokes_the_token_for_rest_and_sockets(http, org: Org):
    token = token_for(org, "agent4", "agent")
    h = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{org.base}/api/v1/skills", headers=h) as r:
        assert r.status == 200
    async with http.post(f"{org.base}/api/v1/auth/logout", headers=h) as r:
        assert r.status == 200
    async with http.get(f"{org.base}/api/v1/skills", headers=h) as r:
        assert r.status == 401
        err = (await r.json())["error"]
        assert (err["message"], err["details"]["reason"]) == ("token revoked", "signed_out"), err
    refused = await _agent_connect(org.base, token)
    assert isinstance(refused, dict) and refused["code"] == "unauthorized"
    assert refused["details"]["reason"] == "signed_out", refused
    # a fresh token of the same user still works: revocation is per token
    assert await _agent_connect(org.base, token_for(org, "agent4", "agent")) is None


async def test_tampered_and_foreign_tokens_are_401(http, org: Org):
    good = token_for(org, "admin", "admin")
    forged, _, _ = issue_token("another-secret-" + "y" * 20, org.id, org.users[org.email("admin")], "admin", 60)
    for bad in (good[:-3] + "abc", forged, "a.b.c", "sbk_not_a_key"):
        async with http.get(f"{org.base}/api/v1/users", headers={"Authorization": f"Bearer {bad}"}) as r:
            assert r.status == 401, bad
    async with http.get(f"{org.base}/api/v1/users", headers={"Authorization": f"Basic {good}"}) as r:
        assert r.status == 401
