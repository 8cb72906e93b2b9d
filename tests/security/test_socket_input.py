"""Bad input on every Socket.IO namespace gets an error ack, and the connection keeps working afterwards."""

from __future__ import annotations

from typing import Any

import socketio
from harness import AgentClient, Org
from security_creds import token_for

from switchboard import keys

HUGE = {"interaction_id": "x", "text": "y" * (200 * 1024)}
JUNK: list[Any] = [None, "text", 42, 3.5, True, [1, 2], [{"offer_id": "x"}], {}, {"unexpected": 1},
                   {"offer_id": 7}, {"interaction_id": ["a"]}, {"state": {"nested": 1}}, {"text": None}, HUGE]
AGENT_EVENTS = ("state:set", "offer:accept", "offer:reject", "message:send", "interaction:transfer",
                "interaction:end", "interaction:wrap_up")
CUSTOMER_EVENTS = ("chat:start", "message:send")


def assert_error_ack(ack: Any, where: str) -> None:
    assert isinstance(ack, dict) and ack.get("ok") is False, (where, ack)
    assert isinstance(ack["error"], dict) and ack["error"]["code"] and ack["error"]["message"], (where, ack)


async def test_agent_events_answer_bad_payloads_with_error_acks(agents):
    agent: AgentClient = await agents("agent1")
    await agent.wait("session")
    for event in AGENT_EVENTS:
        for payload in JUNK:
            ack = await agent.call(event, payload)
            assert_error_ack(ack, f"{event} {str(payload)[:60]}")
    for event in ("no:such:event", "disconnect_me", "__proto__", "on_connect"):
        assert_error_ack(await agent.call(event, {"a": 1}), event)
    huge = await agent.call("message:send", HUGE)
    assert huge["error"]["code"] == "payload_too_large"
    assert (await agent.call("state:set", {"state": "not_ready", "idle_code": "break"}))["ok"]
    assert (await agent.call("state:set", {"state": "available"}))["ok"]
    assert agent.sio.connected


async def test_state_set_with_a_bad_state_or_code_is_refused(agents):
    agent: AgentClient = await agents("agent2")
    await agent.wait("session")
    for payload in ({"state": "busy"}, {"state": "not_ready", "idle_code": "nope"}, {"state": "available",
                    "idle_code": "break"}, {"state": "not_ready"}, {}):
        assert_error_ack(await agent.call("state:set", payload), str(payload))
    assert (await agent.call("state:set", {"state": "available"}))["ok"]


async def _client(org: Org, namespace: str, auth: dict[str, Any]) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(org.base, namespaces=[namespace], auth=auth, transports=["websocket"], wait_timeout=10)
    return sio


async def test_customer_events_answer_bad_payloads_with_error_acks(org):
    sio = await _client(org, "/customer", {"org": org.id})
    try:
        for event in CUSTOMER_EVENTS:
            for payload in JUNK:
                if event == "chat:start" and payload in (None, {}):
                    continue  # an empty start is valid
                ack = await sio.call(event, payload, namespace="/customer", timeout=5)
                assert_error_ack(ack, f"{event} {str(payload)[:60]}")
        assert_error_ack(await sio.call("no:such:event", {}, namespace="/customer", timeout=5), "unknown")
        assert_error_ack(await sio.call("chat:status", None, namespace="/customer", timeout=5), "status before start")
        start = await sio.call("chat:start", {"name": "Ok"}, namespace="/customer", timeout=5)
        assert start["ok"], start
        sent = await sio.call("message:send", {"text": "still here"}, namespace="/customer", timeout=5)
        assert sent["ok"], sent
        assert sio.connected
    finally:
        await sio.disconnect()


async def test_supervisor_namespace_survives_junk(org):
    sio = await _client(org, "/supervisor", {"token": token_for(org, "supervisor", "supervisor")})
    try:
        for payload in JUNK:
            assert_error_ack(await sio.call("no:such:event", payload, namespace="/supervisor", timeout=5), "unknown")
            ack = await sio.call("snapshot", payload, namespace="/supervisor", timeout=5)
            assert isinstance(ack, dict) and "ok" in ack, ack
        ack = await sio.call("snapshot", None, namespace="/supervisor", timeout=5)
        assert ack["ok"] and isinstance(ack["queues"], list) and isinstance(ack["agents"], list)
        assert sio.connected
    finally:
        await sio.disconnect()


async def test_customer_and_supervisor_clients_cannot_fire_lifecycle_handlers(org):
    for namespace, auth in (("/customer", {"org": org.id}),
                            ("/supervisor", {"token": token_for(org, "supervisor", "supervisor")})):
        sio = await _client(org, namespace, auth)
        try:
            for name in ("disconnect", "connect"):
                ack = await sio.call(name, {"token": "x"}, namespace=namespace, timeout=5)
                assert_error_ack(ack, f"{namespace} {name}")
            assert sio.connected
            if namespace == "/supervisor":
                assert (await sio.call("snapshot", None, namespace=namespace, timeout=5))["ok"]
            else:
                assert (await sio.call("chat:start", {}, namespace=namespace, timeout=5))["ok"]
        finally:
            await sio.disconnect()


async def test_an_agent_cannot_fake_its_own_disconnect(agents, org, redis):
    agent: AgentClient = await agents("agent3")
    await agent.wait("session")
    sockets_key = keys.agent_sockets(org.id, org.users[org.email("agent3")])
    assert await redis.hvals(sockets_key) == ["1"]
    assert_error_ack(await agent.call("disconnect", {}), "disconnect")
    assert await redis.hvals(sockets_key) == ["1"]
    assert await redis.zscore(keys.timers(org.id), f"grace|{org.users[org.email('agent3')]}") is None
