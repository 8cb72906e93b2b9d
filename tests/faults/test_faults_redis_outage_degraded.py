"""A Redis outage, with two server processes on a Redis and a PostgreSQL of the test's own: what
needs only PostgreSQL keeps working (reads, reports, login and logout, token revocation, channel
webhooks), what needs Redis answers 503 with Retry-After, and a token revoked during the outage
stays revoked once Redis is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

# The channel flow tests' provider signatures and payloads (tests/channel_flows is a namespace package here).
from channel_flows.channel_flow_fixtures import (
    FakeProvider,
    post_meta,
    post_sms,
    provider_settings,
    running_provider,
    sms_params,
    whatsapp_payload,
)
from fleet import Agent, Stores, wait_until
from harness import TEST_SECRET, Org, connect_agent, login_token
from procs import ServerProcess

from channels.config import ChannelConfig, upsert_channel_config
from switchboard import keys, redis_conn
from switchboard.clock import SystemClock
from switchboard.db import create_pool, migrate
from switchboard.demo import seed_org
from web.auth import decode_token

pytestmark = pytest.mark.slow
ORG = "outage"
KEY = "outage-key"


@dataclass
class Site:
    stores: Stores
    nodes: list[ServerProcess]
    org: Org  # base = node 0
    pool: asyncpg.Pool
    provider: FakeProvider

    def on(self, i: int) -> Org:
        return dataclasses.replace(self.org, base=self.nodes[i].base)

    async def redis_down(self) -> None:
        await asyncio.to_thread(self.stores.stop_redis)

    async def redis_up(self) -> None:
        await asyncio.to_thread(self.stores.start_redis)


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    stores = Stores(Path(tempfile.mkdtemp(prefix="sboutage-")))
    await asyncio.to_thread(stores.start)
    await migrate(stores.database_url)
    pool = await create_pool(stores.database_url, 1, 4)
    redis = redis_conn.connect(stores.redis_url, 4)
    users = await seed_org(pool, redis, SystemClock(), ORG, email_domain="outage.test", api_key=KEY)
    await redis.aclose()
    nodes = [
        ServerProcess(
            stores.database_url, stores.redis_url, f"outage{i}-{random.randrange(10**6)}",
            SWITCHBOARD_RECONCILE_INTERVAL_S="2",
        )
        for i in range(2)
    ]
    await asyncio.gather(*(n.start() for n in nodes))
    async with running_provider() as provider:
        for channel in ("sms", "whatsapp"):
            await upsert_channel_config(
                pool,
                ChannelConfig(
                    org_id=ORG,
                    channel=channel,  # type: ignore[arg-type]
                    queue="sales",
                    provider=provider_settings(channel, provider.base_url),
                    # the acknowledgement names a place in line, which only Redis knows
                    ack_template="Thanks! You are number {position} in line." if channel == "sms" else None,
                ),
            )
        try:
            yield Site(stores, nodes, Org(ORG, nodes[0].base, KEY, users, "outage.test"), pool, provider)
        finally:
            for n in nodes:
                n.stop()
            await pool.close()
            await asyncio.to_thread(stores.stop)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def status_of(http: aiohttp.ClientSession, method: str, url: str, token: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, url, headers=bearer(token), **kw) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        if r.status == 503:
            assert r.headers.get("Retry-After"), f"{method} {url}: 503 without Retry-After"
        return r.status, body


async def socket_refusal(base: str, token: str) -> Any:
    """The connect_error data of an /agent connect with this token (None if it connected)."""
    sio, refused = await connect_agent(base, token)
    await sio.disconnect()
    return refused


async def routed_and_finished(http: aiohttp.ClientSession, site: Site, local: str, body: dict[str, Any]) -> str:
    """An interaction the agent handled to the end, so the agent has history to read."""
    agent = Agent(local, await login_token(http, site.org, local), [site.org.base], hold_s=0)
    await agent.connect()
    try:
        async with http.post(f"{site.org.base}/api/v1/interactions", json=body, headers=bearer(KEY)) as r:
            assert r.status == 201, await r.text()
            iid = str((await r.json())["id"])

        async def completed() -> bool:
            return await site.pool.fetchval("SELECT state FROM interactions WHERE id=$1", uuid.UUID(iid)) == "completed"

        assert await wait_until(completed, 15)
    finally:
        await agent.close()
    return iid


async def test_reads_answer_while_redis_is_down_and_live_operations_answer_503(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        handled = await routed_and_finished(
            http, site, "agent1",
            {"channel": "chat", "queue": "sales", "customer": {"identity": {"type": "email", "value": "r1@x.test"}},
             "message": {"text": "my order"}},
        )
        customer = await site.pool.fetchval("SELECT customer_id::text FROM interactions WHERE id=$1",
                                            uuid.UUID(handled))
        agent_id = site.org.users[site.org.email("agent1")]
        await site.redis_down()
        try:
            node = site.on(1)
            agent = await login_token(http, node, "agent1")  # login needs PostgreSQL only
            sup = await login_token(http, node, "supervisor")
            async with http.post(
                f"{node.base}/api/v1/interactions", headers=bearer(KEY),
                json={"channel": "chat", "queue": "sales",
                      "customer": {"identity": {"type": "email", "value": "r2@x.test"}}},
            ) as r:
                assert r.status == 201, await r.text()
                waiting = str((await r.json())["id"])
            api = f"{node.base}/api/v1"
            reads = [
                (agent, f"{api}/interactions"),
                (agent, f"{api}/interactions/{handled}"),
                (agent, f"{api}/interactions/{handled}/routing"),
                (agent, f"{api}/customers/{customer}"),
                (agent, f"{api}/skills"),
                (agent, f"{api}/idle-codes"),
                (agent, f"{api}/wrap-up-codes"),
                (sup, f"{api}/interactions?state=queued&limit=200"),
                (sup, f"{api}/interactions/{handled}"),
                (sup, f"{api}/interactions/{waiting}"),
                (sup, f"{api}/interactions/{handled}/routing"),
                (sup, f"{api}/customers/{customer}"),
                (sup, f"{api}/queues"),
                (sup, f"{api}/users"),
                (sup, f"{api}/reports/intervals"),
                (sup, f"{api}/reports/agents"),
                (sup, f"{api}/reports/intervals.csv"),
                (sup, f"{api}/reports/agents.csv"),
            ]
            for token, url in reads:
                status, body = await status_of(http, "GET", url, token)
                assert status == 200, (url, status, body)
            _, mine = await status_of(http, "GET", f"{api}/interactions", agent)
            assert [i["id"] for i in mine["items"]] == [handled]
            _, one = await status_of(http, "GET", f"{api}/interactions/{handled}", agent)
            assert one["state"] == "completed" and one["transcript"][0]["text"] == "my order"
            _, queued = await status_of(http, "GET", f"{api}/interactions/{waiting}", sup)
            assert queued["state"] == "queued" and queued["position"] is None  # where it stands is Redis's to say
            _, page = await status_of(http, "GET", f"{api}/interactions?state=queued&limit=200", sup)
            assert waiting in [i["id"] for i in page["items"]]

            live = [
                ("GET", f"{api}/stats/queues", None),
                ("GET", f"{api}/stats/agents", None),
                ("POST", f"{api}/agents/{agent_id}/state", {"state": "available"}),
                ("POST", f"{api}/interactions/{waiting}/move", {"priority": 9}),
            ]
            for method, url, body in live:
                status, err = await status_of(http, method, url, sup, json=body)
                assert status == 503, (url, status, err)
                assert err["error"]["code"] == "service_unavailable", err
        finally:
            await site.redis_up()


async def test_token_revoked_during_the_outage_stays_revoked_on_every_node(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        before = await login_token(http, site.org, "agent2")
        during = await login_token(http, site.org, "agent2")
        live = await login_token(http, site.org, "agent2")
        assert (await status_of(http, "POST", f"{site.on(1).base}/api/v1/auth/logout", before))[0] == 200
        await site.redis_down()
        try:
            for i in (0, 1):
                skills = f"{site.on(i).base}/api/v1/skills"
                status, err = await status_of(http, "GET", skills, before)
                assert (status, err["error"]["message"]) == (401, "token revoked"), "PostgreSQL lacks a revocation"
                assert (await status_of(http, "GET", skills, live))[0] == 200
            assert (await status_of(http, "POST", f"{site.org.base}/api/v1/auth/logout", during))[0] == 200
            for i in (0, 1):
                status, err = await status_of(http, "GET", f"{site.on(i).base}/api/v1/skills", during)
                assert (status, err["error"]["message"]) == (401, "token revoked")
            refused = await socket_refusal(site.on(1).base, during)
            assert isinstance(refused, dict) and refused["code"] == "unauthorized", refused
        finally:
            await site.redis_up()
        # Checked at once and for a while after Redis is back, on both nodes: never accepted again.
        r = redis_conn.connect(site.stores.redis_url, 2)
        jti = decode_token(TEST_SECRET, during).token_id
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                for i in (0, 1):
                    status, _ = await status_of(http, "GET", f"{site.on(i).base}/api/v1/skills", during)
                    assert status == 401, f"node {i} accepted a token revoked during the outage"
                await asyncio.sleep(0.1)
            assert await r.sismember(keys.revoked_tokens(), jti), "Redis never learned of the revocation"
        finally:
            await r.aclose()
        for i in (0, 1):
            assert (await status_of(http, "GET", f"{site.on(i).base}/api/v1/skills", live))[0] == 200
            refused = await socket_refusal(site.on(i).base, during)
            assert isinstance(refused, dict) and refused["code"] == "unauthorized", refused


async def test_a_redis_that_lost_the_revoked_set_is_refilled_and_expired_revocations_are_pruned(site: Site) -> None:
    r = redis_conn.connect(site.stores.redis_url, 2)
    try:
        async with aiohttp.ClientSession() as http:
            gone, lost, last = [await login_token(http, site.org, "agent5") for _ in range(3)]
            assert (await status_of(http, "POST", f"{site.org.base}/api/v1/auth/logout", lost))[0] == 200
            # a Redis that came back without its data: every node notices within a probe and refills it
            await r.delete(keys.revoked_tokens())
            jti = decode_token(TEST_SECRET, lost).token_id

            async def refilled() -> bool:
                return bool(await r.sismember(keys.revoked_tokens(), jti))

            assert await wait_until(refilled, 5, every=0.1), "the revoked set was never refilled"
            for i in (0, 1):
                assert (await status_of(http, "GET", f"{site.on(i).base}/api/v1/skills", lost))[0] == 401
            # a revocation whose token has expired meanwhile leaves PostgreSQL and Redis at the next one
            expired = uuid.uuid4().hex
            await site.pool.execute(
                "INSERT INTO revoked_tokens (token_id, expires_at) VALUES ($1, now() - interval '1 minute')", expired
            )
            await r.sadd(keys.revoked_tokens(), expired)
            assert (await status_of(http, "POST", f"{site.on(1).base}/api/v1/auth/logout", gone))[0] == 200
            assert await site.pool.fetchval("SELECT count(*) FROM revoked_tokens WHERE token_id=$1", expired) == 0
            assert not await r.sismember(keys.revoked_tokens(), expired)
            assert await r.sismember(keys.revoked_tokens(), decode_token(TEST_SECRET, gone).token_id)
            assert (await status_of(http, "GET", f"{site.org.base}/api/v1/skills", last))[0] == 200
    finally:
        await r.aclose()


async def stored(site: Site, identity_type: str, value: str) -> list[asyncpg.Record]:
    return await site.pool.fetch(
        "SELECT i.id, i.state, i.channel, i.queue, i.agent_id, array_agg(m.text ORDER BY m.id) AS texts"
        " FROM interactions i JOIN customer_identities ci ON ci.customer_id = i.customer_id AND ci.org_id = i.org_id"
        " JOIN messages m ON m.interaction_id = i.id AND m.sender = 'customer'"
        " WHERE i.org_id=$1 AND ci.type=$2 AND ci.value=$3 GROUP BY i.id",
        ORG, identity_type, value,
    )


def whatsapp_status(wamid: str, status: str) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1055"},
             "statuses": [{"id": wamid, "status": status, "timestamp": str(int(time.time()))}]}
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
                                                                                         "value": value}]}]}


async def test_channel_webhooks_store_while_redis_is_down_and_route_once_it_is_back(site: Site) -> None:
    phone, wa = "+14155550142", "+16505550143"
    async with aiohttp.ClientSession() as http:
        agents = [Agent(a, await login_token(http, site.org, a), [n.base for n in site.nodes], hold_s=0.5)
                  for a in ("agent1", "agent3")]
        await asyncio.gather(*(a.connect(i) for i, a in enumerate(agents)))
        try:
            await site.redis_down()
            try:
                status, text = await post_sms(http, site.on(0), sms_params(phone, "is anyone there?", "SMout01"))
                assert status == 200, text
                # the same customer again: threaded into the open conversation through PostgreSQL alone
                status, text = await post_sms(http, site.on(1), sms_params(phone, "hello?", "SMout02"))
                assert status == 200, text
                status, body = await post_meta(http, site.on(1), "whatsapp", whatsapp_payload(wa, "hola", "wamid.out1"))
                assert status == 200, body
                assert [m["action"] for m in body["messages"]] == ["created"], body
                [sms] = await stored(site, "phone", phone)
                assert (sms["channel"], sms["queue"], sms["state"]) == ("sms", "sales", "queued")
                assert sms["texts"] == ["is anyone there?", "hello?"]
                [whatsapp] = await stored(site, "whatsapp", wa)
                assert (whatsapp["channel"], whatsapp["state"], whatsapp["texts"]) == ("whatsapp", "queued", ["hola"])
                # a delivery receipt for an agent's message: stored; telling the agent live needs Redis
                await site.pool.execute(
                    "INSERT INTO messages (org_id, interaction_id, sender, agent_id, text, provider_id, status, at)"
                    " VALUES ($1, $2, 'agent', $3, 'we are on it', 'wamid.outS', 'sent', now())",
                    ORG, whatsapp["id"], uuid.UUID(site.org.users[site.org.email("agent1")]),
                )
                # on the node agent1 is not connected to, so telling the agent goes through Redis
                status, body = await post_meta(http, site.on(1), "whatsapp", whatsapp_status("wamid.outS", "delivered"))
                assert (status, body.get("statuses_applied")) == (200, 1), body
                receipt = await site.pool.fetchval("SELECT status FROM messages WHERE provider_id='wamid.outS'")
                assert receipt == "delivered"
            finally:
                await site.redis_up()
            back = time.monotonic()
            ids = [sms["id"], whatsapp["id"]]

            async def offered_to_agents() -> bool:
                n = await site.pool.fetchval(
                    "SELECT count(*) FROM interactions WHERE id = ANY($1::uuid[]) AND agent_id IS NOT NULL", ids
                )
                return n == len(ids)

            assert await wait_until(offered_to_agents, 10), "stored during the outage but not routed after it"
            assert time.monotonic() - back < 10
        finally:
            await asyncio.gather(*(a.close() for a in agents))


async def test_an_agent_leaving_during_the_outage_is_uncounted_once_redis_is_back(site: Site) -> None:
    """The socket closed while Redis was down, so its node could not uncount it there: without the
    node writing its own count back, the agent would look connected for good and keep the seat."""
    node_id = site.nodes[0].env["SWITCHBOARD_NODE_ID"]
    agent_id = site.org.users[site.org.email("agent4")]
    counts = keys.agent_sockets(ORG, agent_id)
    async with aiohttp.ClientSession() as http:
        sio, refused = await connect_agent(site.org.base, await login_token(http, site.org, "agent4"))
    assert refused is None
    r = redis_conn.connect(site.stores.redis_url, 2)
    assert await r.hget(counts, node_id) == "1"
    await r.aclose()
    await site.redis_down()
    try:
        await sio.disconnect()
        await asyncio.sleep(0.5)  # the node handles the disconnect while Redis is away
    finally:
        await site.redis_up()
    r = redis_conn.connect(site.stores.redis_url, 2)
    try:

        async def uncounted() -> bool:
            return await r.hget(counts, node_id) is None

        assert await wait_until(uncounted, 10), await r.hgetall(counts)

        async def grace_started() -> bool:  # the orphan sweep gives the agent the seat's grace period
            return await r.zscore(keys.timers(ORG), f"grace|{agent_id}") is not None or (
                await r.hget(keys.agent(ORG, agent_id), "state") in (None, "logged_out")
            )

        assert await wait_until(grace_started, 15)
    finally:
        await r.aclose()


async def test_readyz_keeps_nodes_in_rotation_through_one_store_down_and_not_through_both(site: Site) -> None:
    """A load balancer drops a node whose readiness fails. One store down is shared by every node
    and served through (degraded), so no node may step out for it; with neither store, it must."""

    async def readiness() -> list[tuple[int, str, dict[str, str]]]:
        out = []
        async with aiohttp.ClientSession() as http:
            for n in site.nodes:
                async with http.get(f"{n.base}/readyz") as r:
                    body = await r.json()
                    out.append((r.status, body["status"], {k: v.split(":")[0] for k, v in body["checks"].items()}))
        return out

    assert await readiness() == [(200, "ready", {"redis": "ok", "postgres": "ok"})] * 2
    await site.redis_down()
    try:
        assert await readiness() == [(200, "degraded", {"redis": "down", "postgres": "ok"})] * 2
        await asyncio.to_thread(site.stores.stop_pg)
        try:
            assert await readiness() == [(503, "not_ready", {"redis": "down", "postgres": "down"})] * 2
        finally:
            await asyncio.to_thread(site.stores.start_pg)
        assert await readiness() == [(200, "degraded", {"redis": "down", "postgres": "ok"})] * 2
    finally:
        await site.redis_up()

    async def ready_again() -> bool:
        return await readiness() == [(200, "ready", {"redis": "ok", "postgres": "ok"})] * 2

    assert await wait_until(ready_again, 10)
    await asyncio.to_thread(site.stores.stop_pg)
    try:
        assert await readiness() == [(200, "degraded", {"redis": "ok", "postgres": "down"})] * 2
    finally:
        await asyncio.to_thread(site.stores.start_pg)
    assert await wait_until(ready_again, 10)
