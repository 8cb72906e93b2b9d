"""Fault injection with two server processes, a Redis and a PostgreSQL of the test's own, and
scripted agents: kill -9 of a server mid-offer and mid-conversation, a Redis restart under load,
a PostgreSQL restart under load, agent sockets dropped. Every interaction accepted with a 2xx
must end exactly once, never be held by two agents at once, and no license cap may be exceeded.
Then PostgreSQL outages met by work in flight: a web chat whose messages wait in the spool, SMS
webhooks kept in the inbound spool, a node killed meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from fleet import Agent, Poster, Stores, wait_until
from harness import TEST_SECRET, AgentClient, Org, connect_agent
from procs import ServerProcess

from licensing import seats
from queues.config import get_queue, save_queue
from switchboard import redis_conn
from switchboard.clock import SystemClock
from switchboard.db import create_pool, migrate
from switchboard.demo import seed_org
from web.auth import decode_token

pytestmark = pytest.mark.slow
ORG = "faults"
N_AGENTS = 8
RESULTS: list[dict[str, Any]] = []
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "faults.json"


class Center:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.nodes: list[ServerProcess] = []

    def node(self, i: int) -> ServerProcess:
        p = ServerProcess(
            self.stores.database_url,
            self.stores.redis_url,
            f"fault{i}-{random.randrange(10**6)}",
            SWITCHBOARD_RECONCILE_INTERVAL_S="2",
        )
        if i < len(self.nodes):
            p.port, p.base = self.nodes[i].port, self.nodes[i].base
            p.env["SWITCHBOARD_PORT"] = str(p.port)
            self.nodes[i] = p
        else:
            self.nodes.append(p)
        return p

    @property
    def bases(self) -> list[str]:
        return [n.base for n in self.nodes]


@pytest.fixture(scope="module")
async def center():
    run_dir = Path(tempfile.mkdtemp(prefix="sbfaults-"))
    stores = Stores(run_dir)
    await asyncio.to_thread(stores.start)
    await migrate(stores.database_url)
    pool = await create_pool(stores.database_url, 1, 4)
    redis = redis_conn.connect(stores.redis_url, 8)
    await seed_org(pool, redis, SystemClock(), ORG, email_domain="faults.test", api_key="faults-key")
    for name in ("sales", "support"):
        q = await get_queue(pool, ORG, name)
        assert q is not None
        await save_queue(pool, redis, ORG, q.model_copy(update={"offer_timeout_s": 3, "wrap_up_s": 2}))
    pw = await pool.fetchval("SELECT password_hash FROM users WHERE email='agent1@faults.test'")
    for i in range(N_AGENTS):
        await pool.execute(
            "INSERT INTO users (id, org_id, email, password_hash, role, display_name, skills) VALUES"
            " (gen_random_uuid(), $1, $2, $3, 'agent', $4, $5)",
            ORG,
            f"fleet{i}@faults.test",
            pw,
            f"Fleet {i}",
            {"sales": 5, "support": 5},
        )
    await redis.aclose()
    await pool.close()
    c = Center(stores)
    await asyncio.gather(c.node(0).start(), c.node(1).start())
    yield c
    for n in c.nodes:
        n.stop()
    await asyncio.to_thread(stores.stop)
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(RESULTS, indent=2))
    print("\nFAULTS", json.dumps(RESULTS))


async def tokens(http: aiohttp.ClientSession, base: str) -> list[str]:
    out = []
    for i in range(N_AGENTS):
        async with http.post(
            f"{base}/api/v1/auth/login", json={"email": f"fleet{i}@faults.test", "password": "switchboard"}
        ) as r:
            out.append((await r.json())["token"])
    return out


async def fleet(http: aiohttp.ClientSession, c: Center) -> list[Agent]:
    agents = [Agent(f"fleet{i}", t, c.bases) for i, t in enumerate(await tokens(http, c.bases[0]))]
    await asyncio.gather(*(a.connect(i % 2) for i, a in enumerate(agents)))
    return agents


async def check(c: Center, ids: list[str], started: float, fault: str, injected: int, extra: dict[str, Any]) -> None:
    pool = await create_pool(c.stores.database_url, 1, 2)
    try:

        async def all_done() -> bool:
            n = await pool.fetchval(
                "SELECT count(*) FROM interactions WHERE id = ANY($1::uuid[]) AND state='completed'", ids
            )
            return n == len(ids)

        done = await wait_until(all_done, 60)
        states = dict(
            await pool.fetch("SELECT state, count(*) FROM interactions WHERE id = ANY($1::uuid[]) GROUP BY state", ids)
        )
        if not done:
            stuck = await pool.fetch(
                "SELECT id::text, state, agent_id::text FROM interactions WHERE id = ANY($1::uuid[])"
                " AND state <> 'completed'",
                ids,
            )
            r = redis_conn.connect(c.stores.redis_url, 2)
            detail = [
                (
                    dict(s),
                    await r.hgetall(f"sb:{{{ORG}}}:i:{s['id']}"),
                    [
                        dict(e)
                        for e in await pool.fetch(
                            "SELECT kind, agent_id::text, data FROM events WHERE interaction_id=$1::uuid ORDER BY id",
                            s["id"],
                        )
                    ],
                )
                for s in stuck
            ]
            await r.aclose()
            raise AssertionError(f"not all ended: {states} {detail}")
        events = await pool.fetch(
            # by time: reports spooled during a PostgreSQL outage are inserted after later ones
            "SELECT interaction_id::text AS iid, kind FROM events WHERE interaction_id = ANY($1::uuid[])"
            " ORDER BY at, id",
            ids,
        )
        per: dict[str, list[str]] = defaultdict(list)
        for e in events:
            per[e["iid"]].append(e["kind"])
        for iid, kinds in per.items():
            assert kinds.count("completed") <= 1, (iid, kinds)
            # a second agent only ever gets it after it went back to the queue
            held = False
            for k in kinds:
                if k == "connected":
                    assert not held, (iid, kinds)
                    held = True
                elif k in ("requeued", "completed", "abandoned"):
                    held = False
    finally:
        await pool.close()
    RESULTS.append(
        {
            "fault": fault,
            "injected": injected,
            "survived": injected,
            "interactions": len(ids),
            "all_ended_exactly_once": True,
            "seconds": round(time.monotonic() - started, 1),
            **extra,
        }
    )


async def watch_seats(c: Center, stop: asyncio.Event, peak: list[int]) -> None:
    r = redis_conn.connect(c.stores.redis_url, 2)
    try:
        while not stop.is_set():
            try:
                peak.append(await seats.in_use(r, ORG))
            except Exception:
                pass  # Redis may be restarting
            await asyncio.sleep(0.2)
    finally:
        await r.aclose()


async def run_load(c: Center, fault, count: int = 120, rate: float = 40) -> tuple[Poster, list[Agent], dict[str, Any]]:
    stop = asyncio.Event()
    peak: list[int] = []
    watcher = asyncio.create_task(watch_seats(c, stop, peak))
    async with aiohttp.ClientSession() as http:
        agents = await fleet(http, c)
        poster = Poster(c.bases, "faults-key")
        load = asyncio.create_task(poster.run(http, count, rate, ["sales", "support"]))
        await asyncio.sleep(1.0)
        extra = await fault(agents)
        await load
    stop.set()
    await watcher
    assert not poster.errors, poster.errors[:3]
    assert max(peak or [0]) <= 25, "concurrent license cap exceeded"
    extra["peak_seats"] = max(peak or [0])
    extra["unavailable_503"] = poster.unavailable
    return poster, agents, extra


async def close_all(agents: list[Agent]) -> None:
    await asyncio.gather(*(a.close() for a in agents))
    await asyncio.sleep(0.3)


async def test_kill9_server_mid_offer_and_mid_conversation(center):
    started = time.monotonic()

    async def fault(agents: list[Agent]) -> dict[str, Any]:
        r = redis_conn.connect(center.stores.redis_url, 2)
        victims = {a.name for i, a in enumerate(agents) if i % 2 == 0}
        del victims
        pending = []
        for key in await r.keys(f"sb:{{{ORG}}}:i:*"):
            h = await r.hgetall(key)
            if h.get("state") in ("offered", "connected"):
                pending.append(key.rsplit(":", 1)[1])
        await r.aclose()
        t_kill = time.monotonic()
        center.nodes[0].kill()
        await center.node(0).start()
        return {"pending_at_kill": len(pending), "t_kill": t_kill, "pending": pending}

    poster, agents, extra = await run_load(center, fault)
    pending = extra.pop("pending")
    t_kill = extra.pop("t_kill")
    pool = await create_pool(center.stores.database_url, 1, 2)

    async def pending_done() -> bool:
        n = await pool.fetchval(
            "SELECT count(*) FROM interactions WHERE id = ANY($1::uuid[]) AND state='completed'", pending
        )
        return n == len(pending)

    await wait_until(pending_done, 30, every=0.05)
    extra["recovery_s"] = round(time.monotonic() - t_kill, 2)
    await pool.close()
    await check(center, list(poster.accepted.values()), started, "kill -9 server mid-offer/mid-conversation", 1, extra)
    assert extra["recovery_s"] <= 10
    await close_all(agents)


async def test_redis_restart_under_load(center):
    started = time.monotonic()

    async def fault(agents: list[Agent]) -> dict[str, Any]:
        await asyncio.to_thread(center.stores.restart_redis)
        return {}

    poster, agents, extra = await run_load(center, fault)
    await check(center, list(poster.accepted.values()), started, "Redis restart (AOF) under load", 1, extra)
    await close_all(agents)


async def test_postgres_restart_under_load(center):
    started = time.monotonic()

    async def fault(agents: list[Agent]) -> dict[str, Any]:
        await asyncio.to_thread(center.stores.stop_pg)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(center.stores.start_pg)
        return {}

    poster, agents, extra = await run_load(center, fault)
    assert extra["unavailable_503"] > 0, "intake kept answering 2xx while PostgreSQL was down"
    ids = list(poster.accepted.values())
    await check(center, ids, started, "PostgreSQL restart under load", 1, extra)
    await close_all(agents)
    # what routing did while PostgreSQL was down waited in Redis and was written as it happened
    pool = await create_pool(center.stores.database_url, 1, 2)
    try:
        recovered = await pool.fetchval(
            "SELECT count(*) FROM interactions WHERE id = ANY($1::uuid[]) AND end_reason='recovered'", ids
        )
        unconnected = await pool.fetch(
            "SELECT i.id::text FROM interactions i WHERE i.id = ANY($1::uuid[]) AND NOT EXISTS"
            " (SELECT 1 FROM events e WHERE e.interaction_id=i.id AND e.kind='connected')",
            ids,
        )
    finally:
        await pool.close()
    assert recovered == 0 and not unconnected, (recovered, unconnected)


async def test_agent_sockets_dropped(center):
    started = time.monotonic()

    async def fault(agents: list[Agent]) -> dict[str, Any]:
        drops = 0
        for _ in range(3):
            for a in random.sample(agents, 3):
                if a.sio is not None:
                    await a.sio.eio.disconnect(abort=True)
                    drops += 1
            await asyncio.sleep(0.7)
        return {"sockets_dropped": drops}

    poster, agents, extra = await run_load(center, fault)
    await check(
        center, list(poster.accepted.values()), started, "agent sockets dropped", extra["sockets_dropped"], extra
    )
    await close_all(agents)


async def test_intake_stores_while_redis_is_down_and_routes_once_it_is_back(center):
    """Customers' interactions are not refused during a Redis outage: stored in PostgreSQL (201, its
    place in the queue not known yet), queued by the reconciler as soon as Redis answers again."""
    async with aiohttp.ClientSession() as http:
        agents = await fleet(http, center)
        await asyncio.to_thread(center.stores.stop_redis)
        ids: list[str] = []
        try:
            for i, base in enumerate(center.bases):
                body = {
                    "channel": "sms",
                    "queue": "sales",
                    "customer": {"identity": {"type": "phone", "value": f"+1555020{i:04d}"}},
                    "message": {"text": "is anyone there?"},
                }
                async with http.post(
                    f"{base}/api/v1/interactions",
                    json=body,
                    headers={"Authorization": "Bearer faults-key", "Idempotency-Key": f"redis-down-{i}"},
                ) as r:
                    assert r.status == 201, await r.text()
                    data = await r.json()
                assert data["state"] == "queued" and data["position"] is None
                ids.append(data["id"])
        finally:
            await asyncio.to_thread(center.stores.start_redis)
    pool = await create_pool(center.stores.database_url, 1, 2)
    try:

        async def completed() -> bool:
            n = await pool.fetchval(
                "SELECT count(*) FROM interactions WHERE id = ANY($1::uuid[]) AND state='completed'", ids
            )
            return n == len(ids)

        # completed = offered to an agent, accepted, ended and wrapped up
        assert await wait_until(completed, 30), "stored during the outage but never routed after it"
    finally:
        await pool.close()
        await close_all(agents)


async def test_a_node_killed_while_postgres_is_down_frees_its_agents_seats(center):
    """The orphan sweep needs only Redis, so it goes on through a PostgreSQL outage: the agent of a
    node killed meanwhile gets the seat's grace period instead of keeping the seat until PostgreSQL
    is back (the spool's replay, which needs PostgreSQL, must not hold it up)."""
    async with aiohttp.ClientSession() as http:
        token = (await tokens(http, center.bases[1]))[N_AGENTS - 1]
    agent_id = decode_token(TEST_SECRET, token).subject
    sio, refused = await connect_agent(center.bases[1], token)
    assert refused is None
    r = redis_conn.connect(center.stores.redis_url, 2)
    try:
        # reports waiting for PostgreSQL, as routing during the outage leaves them
        await r.rpush(f"sb:{{{ORG}}}:report-spool", json.dumps({"id": "waiting", "reports": [[{}, 0]]}))
        await r.sadd("sb:spooled-orgs", ORG)
        await asyncio.to_thread(center.stores.stop_pg)
        try:
            center.nodes[1].kill()

            async def grace_started() -> bool:
                return await r.zscore(f"sb:{{{ORG}}}:timers", f"grace|{agent_id}") is not None or (
                    await r.hget(f"sb:{{{ORG}}}:a:{agent_id}", "state") in (None, "logged_out")
                )

            assert await wait_until(grace_started, 20), "the dead node's agent kept its seat"
        finally:
            await asyncio.to_thread(center.stores.start_pg)
            await center.node(1).start()

        async def replayed() -> bool:
            return not await r.exists(f"sb:{{{ORG}}}:report-spool")

        assert await wait_until(replayed, 20), "the spool was not written once PostgreSQL was back"
    finally:
        await sio.disconnect()
        await r.aclose()


async def test_a_web_chat_goes_on_through_a_postgres_outage_and_its_transcript_is_written_after(center):
    """Messages that cannot be stored wait in the report spool and are delivered live meanwhile: the
    customer and the agent keep talking, and the transcript has every message, in order, once
    PostgreSQL is back (replayed by whichever node's reconcile tick comes first)."""
    import socketio

    pool = await create_pool(center.stores.database_url, 1, 2)
    await pool.execute("UPDATE orgs SET settings = settings || '{\"chat_queue\": \"sales\"}' WHERE id=$1", ORG)
    async with aiohttp.ClientSession() as http:
        token = (await tokens(http, center.bases[1]))[N_AGENTS - 2]
    agent = AgentClient(Org(ORG, center.bases[1], "faults-key", {}, "faults.test"), token)
    customer = socketio.AsyncClient(reconnection=False)
    heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    customer.on("message", heard.put_nowait, namespace="/customer")
    try:
        await agent.connect()
        await agent.wait("session")
        await customer.connect(center.bases[0], namespaces=["/customer"], auth={"org": ORG}, transports=["websocket"],
                               wait_timeout=5)
        chat = await customer.call("chat:start", {"name": "Pat", "message": "hello"}, namespace="/customer", timeout=5)
        assert chat["ok"], chat
        iid = chat["interaction_id"]
        while (offer := await agent.wait("offer", 15))["interaction"]["id"] != iid:  # type: ignore[index]
            pass
        assert (await agent.call("offer:accept", {"offer_id": offer["offer_id"]}))["ok"]  # type: ignore[index]
        await agent.wait("interaction:connected")

        await asyncio.to_thread(center.stores.stop_pg)
        try:
            ack = await agent.call("message:send", {"interaction_id": iid, "text": "during: from the agent"})
            assert ack["ok"] and ack["message_id"] is None, ack
            assert (await asyncio.wait_for(heard.get(), 5))["text"] == "during: from the agent"
            ack = await customer.call("message:send", {"text": "during: from the customer"}, namespace="/customer",
                                      timeout=5)
            assert ack["ok"] and ack["message_id"] is None, ack
            said = await agent.wait("message")
            assert said["text"] == "during: from the customer", said  # type: ignore[index]
            # what needs PostgreSQL and has no spool says so, as REST's 503 does
            ack = await agent.call("interaction:transfer", {"interaction_id": iid, "agent_id": str(uuid.uuid4())})
            assert ack["error"]["code"] == "service_unavailable", ack
        finally:
            await asyncio.to_thread(center.stores.start_pg)
        ack = await agent.call("message:send", {"interaction_id": iid, "text": "after"})
        assert ack["ok"], ack

        async def texts() -> list[str]:
            rows = await pool.fetch("SELECT text FROM messages WHERE interaction_id=$1 ORDER BY at, id", uuid.UUID(iid))
            return [r["text"] for r in rows]

        want = ["hello", "during: from the agent", "during: from the customer", "after"]

        async def written() -> bool:
            try:
                return await texts() == want
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return False

        assert await wait_until(written, 20), await texts()
        # and the transcript the API serves (ordered by time, not by row id)
        async with aiohttp.ClientSession() as http, http.get(
            f"{center.bases[0]}/api/v1/interactions/{iid}", headers={"Authorization": "Bearer faults-key"}
        ) as r:
            body = await r.json()
        assert [m["text"] for m in body["transcript"]] == want, body
        assert (await agent.call("interaction:end", {"interaction_id": iid}))["ok"]
    finally:
        await customer.disconnect()
        await agent.close()
        await pool.close()


def twilio_signed(url: str, params: dict[str, str], token: str) -> dict[str, str]:
    """Twilio's X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + each param name+value by name))."""
    data = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return {"X-Twilio-Signature": base64.b64encode(digest).decode()}


async def test_sms_that_arrive_while_postgres_is_down_are_kept_and_stored_after(center):
    """Twilio retries an inbound webhook once, within 15 s: a longer outage must not lose what
    customers write. Verified with the node's copy of the channel settings, kept in Redis, answered
    200, and stored (once, a provider retry included) when PostgreSQL is back."""
    token = "twilio-auth-token-faults"
    base = center.bases[0]
    url = f"{base}/webhooks/sms/{ORG}"  # node 0 first, then node 1
    pool = await create_pool(center.stores.database_url, 1, 2)

    def sms(sender: str, text: str, sid: str) -> dict[str, str]:
        return {"AccountSid": "ACfake", "From": sender, "To": "+14155550000", "Body": text, "MessageSid": sid,
                "SmsSid": sid, "SmsStatus": "received", "NumMedia": "0"}

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/auth/login",
                             json={"email": "admin@faults.test", "password": "switchboard"}) as r:
            admin = (await r.json())["token"]
        provider = {"account_sid": "ACfake", "auth_token": token, "from_number": "+14155550000",
                    "base_url": "http://127.0.0.1:9"}
        async with http.put(f"{base}/api/v1/channels/sms", json={"queue": "sales", "provider": provider},
                            headers={"Authorization": f"Bearer {admin}"}) as r:
            assert r.status == 200, await r.text()

        async def post(params: dict[str, str]) -> tuple[int, str]:
            async with http.post(url, data=params, headers=twilio_signed(url, params, token)) as r:
                return r.status, await r.text()

        first = sms("+14155550141", "before the outage", "SMfault0")
        assert (await post(first))[0] == 200
        # the other node has served no webhook of this channel: it verifies with the copy of the
        # settings its reconcile ticks read (every 2 s here)
        await asyncio.sleep(4)
        url = f"{center.bases[1]}/webhooks/sms/{ORG}"
        await asyncio.to_thread(center.stores.stop_pg)
        try:
            during = [sms("+14155550142", "during 1", "SMfault1"), sms("+14155550142", "during 2", "SMfault2")]
            for params in during:
                status, body = await post(params)
                assert status == 200 and "<Response>" in body, (status, body)
            assert (await post(during[0]))[0] == 200  # Twilio's retry of the first
            forged = sms("+14155550143", "forged", "SMfault3")
            async with http.post(url, data=forged, headers={"X-Twilio-Signature": "bm9wZQ=="}) as r:
                assert r.status == 403, await r.text()  # still verified, with the settings it knew
        finally:
            await asyncio.to_thread(center.stores.start_pg)

        async def texts() -> list[str]:
            try:
                rows = await pool.fetch(
                    "SELECT m.text FROM messages m JOIN customer_identities ci ON ci.customer_id ="
                    " (SELECT customer_id FROM interactions WHERE id = m.interaction_id)"
                    " WHERE ci.value = '+14155550142' AND m.sender = 'customer' ORDER BY m.at, m.id")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return []
            return [r["text"] for r in rows]

        async def stored() -> bool:
            return await texts() == ["during 1", "during 2"]

        assert await wait_until(stored, 30), await texts()
        assert await pool.fetchval("SELECT count(*) FROM messages WHERE text = 'forged'") == 0
        await pool.close()
