"""Deactivating a user, or changing their password or role, ends their sessions: every token issued
before the change is refused (REST and socket connect), their live sockets are told why and
disconnected, and an agent taken off the floor is logged out for real (seat freed, offers re-offered)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import jwt
from harness import TEST_SECRET, AgentClient, Org, connect_agent, intake, login_token
from security_creds import token_for

from licensing import seats
from switchboard import keys


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def rest(http: aiohttp.ClientSession, token: str, method: str = "GET", path: str = "/api/v1/skills",
               org: Org | None = None, base: str = "", **kw: Any) -> tuple[int, Any]:
    async with http.request(method, f"{base or org.base}{path}", headers=bearer(token), **kw) as r:  # type: ignore[union-attr]
        return r.status, await r.json()


def watch_end(client: AgentClient) -> dict[str, Any]:
    """Record what the server says when it ends this socket (register before connecting)."""
    seen: dict[str, Any] = {"ended": None, "disconnected": asyncio.Event()}

    @client.sio.on("session:ended", namespace="/agent")
    async def ended(data: Any) -> None:
        seen["ended"] = data

    @client.sio.on("disconnect", namespace="/agent")
    async def gone(*_: Any) -> None:
        seen["disconnected"].set()

    return seen


async def refusal(org: Org, token: str) -> Any:
    sio, refused = await connect_agent(org.base, token)
    await sio.disconnect()
    return refused


def chat(value: str) -> dict[str, Any]:
    return {"channel": "chat", "queue": "sales", "customer": {"identity": {"type": "email", "value": value}},
            "message": {"text": "hello"}}


async def test_deactivated_agent_is_refused_disconnected_unseated_and_its_offer_goes_to_another(
    http, org, agents, redis
):
    admin = token_for(org, "admin", "admin")
    ada = await agents("agent1", connect=False)
    ended = watch_end(ada)
    await ada.connect()
    assert (await ada.wait("session"))["state"] == "available"
    status, created = await intake(http, org, chat("cutoff1@x.test"))
    assert status == 201, created
    offer = await ada.wait("offer")
    assert offer["interaction"]["id"] == created["id"]
    cleo = await agents("agent3")  # also serves sales; available now, but the offer is Ada's
    assert (await cleo.wait("session"))["state"] == "available"
    ada_id = org.users[org.email("agent1")]
    assert ada_id in await seats.holders(redis, org.id)

    status, body = await rest(http, admin, "DELETE", f"/api/v1/users/{ada_id}", org)
    assert status == 200 and body["active"] is False, body

    await asyncio.wait_for(ended["disconnected"].wait(), 5)
    assert ended["ended"]["reason"] == "deactivated" and ended["ended"]["code"] == "session_ended", ended
    assert not ada.sio.connected
    # the offer Ada held went back to the queue and to the other agent serving it
    again = await cleo.wait("offer")
    assert again["interaction"]["id"] == created["id"]
    assert ada_id not in await seats.holders(redis, org.id)
    assert await redis.hget(keys.agent(org.id, ada_id), "state") == "logged_out"
    assert ada_id not in await redis.smembers(keys.agents_online(org.id))
    # the token is dead for REST and for sockets; the password no longer logs in
    status, err = await rest(http, ada.token, org=org)
    assert (status, err["error"]["message"]) == (401, "token revoked"), err
    # and says why, so a desktop opened later with the old token can tell the person
    deactivated = {"reason": "deactivated", "advice": "Your account was deactivated by an admin."}
    assert err["error"]["details"] == deactivated, err
    refused = await refusal(org, ada.token)
    assert isinstance(refused, dict) and refused["code"] == "unauthorized", refused
    assert refused["details"] == deactivated, refused
    async with http.post(f"{org.base}/api/v1/auth/login",
                         json={"email": org.email("agent1"), "password": "switchboard"}) as r:
        assert r.status == 401
    # the other agent was not touched
    assert (await rest(http, cleo.token, org=org))[0] == 200 and cleo.sio.connected


async def test_password_change_ends_other_sessions_and_the_new_login_works(http, org, agents, pool, redis):
    admin = token_for(org, "admin", "admin")
    ben_id = org.users[org.email("agent2")]
    ben = await agents("agent2", connect=False)
    ended = watch_end(ben)
    await ben.connect()
    await ben.wait("session")
    other_tab = await login_token(http, org, "agent2")
    # a change that is not a credential leaves sessions alone
    status, _ = await rest(http, admin, "PATCH", f"/api/v1/users/{ben_id}", org, json={"display_name": "Benjamin"})
    assert status == 200 and (await rest(http, other_tab, org=org))[0] == 200 and ben.sio.connected

    status, body = await rest(http, admin, "PATCH", f"/api/v1/users/{ben_id}", org, json={"password": "new-secret-42"})
    assert status == 200, body
    for token in (ben.token, other_tab):
        status, err = await rest(http, token, org=org)
        assert (status, err["error"]["message"]) == (401, "token revoked"), err
        assert err["error"]["details"]["reason"] == "password_changed", err
    await asyncio.wait_for(ended["disconnected"].wait(), 5)
    assert ended["ended"]["reason"] == "password_changed", ended
    # durable in PostgreSQL, copied to Redis
    stored = await pool.fetchval("SELECT tokens_valid_after FROM users WHERE id=$1::uuid", ben_id)
    assert stored is not None and abs(stored.timestamp() - time.time()) < 60
    assert float(await redis.hget(keys.token_cutoffs(), ben_id)) == stored.timestamp()

    async with http.post(f"{org.base}/api/v1/auth/login",
                         json={"email": org.email("agent2"), "password": "switchboard"}) as r:
        assert r.status == 401
    async with http.post(f"{org.base}/api/v1/auth/login",
                         json={"email": org.email("agent2"), "password": "new-secret-42"}) as r:
        assert r.status == 200
        fresh = (await r.json())["token"]
    assert (await rest(http, fresh, org=org))[0] == 200
    again = AgentClient(org, fresh)
    await again.connect()
    try:
        assert (await again.wait("session"))["agent_id"] == ben_id
    finally:
        await again.close()


async def test_role_change_ends_sessions_and_takes_an_agent_off_the_floor(http, org, agents, redis):
    admin = token_for(org, "admin", "admin")
    cleo_id = org.users[org.email("agent3")]
    cleo = await agents("agent3", connect=False)
    ended = watch_end(cleo)
    await cleo.connect()
    await cleo.wait("session")
    assert cleo_id in await seats.holders(redis, org.id)

    status, body = await rest(http, admin, "PATCH", f"/api/v1/users/{cleo_id}", org, json={"role": "supervisor"})
    assert status == 200 and body["role"] == "supervisor", body
    await asyncio.wait_for(ended["disconnected"].wait(), 5)
    assert ended["ended"]["reason"] == "role_changed", ended
    assert cleo_id not in await seats.holders(redis, org.id)
    status, err = await rest(http, cleo.token, org=org)
    assert (status, err["error"]["message"]) == (401, "token revoked"), err
    assert err["error"]["details"]["reason"] == "role_changed", err
    as_supervisor = await login_token(http, org, "agent3")
    assert (await rest(http, as_supervisor, path="/api/v1/stats/queues", org=org))[0] == 200


async def test_every_socket_of_a_deactivated_supervisor_is_told_why_before_it_is_disconnected(http, org):
    """A socket told nothing before the disconnect can only show a refused reconnect ("token revoked"),
    so each tab must get the reason first."""
    import socketio

    admin = token_for(org, "admin", "admin")
    sup_token = await login_token(http, org, "supervisor")
    sup_id = org.users[org.email("supervisor")]
    tabs = 12
    clients = [socketio.AsyncClient(reconnection=False) for _ in range(tabs)]
    told_first: list[bool | None] = [None] * tabs  # at its disconnect: had it been told why?
    reasons: list[list[Any]] = [[] for _ in range(tabs)]
    gone = [asyncio.Event() for _ in range(tabs)]

    def watch(i: int, sio: socketio.AsyncClient) -> None:
        sio.on("session:ended", reasons[i].append, namespace="/supervisor")

        def disconnected(*_: Any) -> None:
            told_first[i] = bool(reasons[i])
            gone[i].set()

        sio.on("disconnect", disconnected, namespace="/supervisor")

    for i, sio in enumerate(clients):
        watch(i, sio)
        await sio.connect(org.base, namespaces=["/supervisor"], auth={"token": sup_token},
                          transports=["websocket"], wait_timeout=5)
    try:
        status, _ = await rest(http, admin, "DELETE", f"/api/v1/users/{sup_id}", org)
        assert status == 200
        await asyncio.wait_for(asyncio.gather(*(g.wait() for g in gone)), 5)
        assert told_first == [True] * tabs
        assert all(r[0]["reason"] == "deactivated" for r in reasons), reasons
        assert (await rest(http, sup_token, org=org))[0] == 401
    finally:
        for sio in clients:
            await sio.disconnect()


async def test_tokens_issued_before_iat_existed_count_as_issued_a_ttl_before_expiry(http, org):
    admin = token_for(org, "admin", "admin")
    eve_id = org.users[org.email("agent5")]
    now = int(time.time())

    def legacy(exp: int) -> str:  # the claims issue_token wrote before iat
        claims = {"sub": eve_id, "org": org.id, "role": "agent", "jti": f"legacy{exp}", "exp": exp}
        return jwt.encode(claims, TEST_SECRET, "HS256")

    old = legacy(now + 3600)  # issued 11 h ago under the 12 h TTL
    assert (await rest(http, old, org=org))[0] == 200
    status, _ = await rest(http, admin, "PATCH", f"/api/v1/users/{eve_id}", org, json={"password": "another-pass-1"})
    assert status == 200
    assert (await rest(http, old, org=org))[0] == 401
    # one whose expiry says it was issued after the cutoff (a 12 h TTL from a second from now) passes
    assert (await rest(http, legacy(now + 12 * 3600 + 5), org=org))[0] == 200
