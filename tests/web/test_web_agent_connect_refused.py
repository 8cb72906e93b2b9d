"""A connect refused after the socket was counted (Redis or PostgreSQL failing mid-login) is
uncounted: a refused connect gets no on_disconnect, so without this the agent would look connected
on this node for good, and its license seat would never start its grace period."""

from __future__ import annotations

from typing import Any

from harness import connect_agent, login_token
from redis.exceptions import ConnectionError as RedisConnectionError

from switchboard import keys
from web.sio.agent import AgentNamespace


async def test_a_connect_that_fails_after_counting_the_socket_uncounts_it(http, org, redis, monkeypatch):
    agent_id = org.users[org.email("agent1")]
    token = await login_token(http, org, "agent1")

    async def snapshot_fails(self: Any, org_id: str, agent_id: str) -> Any:
        raise RedisConnectionError("injected: Redis went away mid-login")

    with monkeypatch.context() as m:
        m.setattr(AgentNamespace, "snapshot", snapshot_fails)
        sio, refused = await connect_agent(org.base, token)
        await sio.disconnect()
    assert refused == {"code": "service_unavailable", "message": "live state is unreachable; retry shortly"}
    counts = await redis.hgetall(keys.agent_sockets(org.id, agent_id))
    assert all(int(n) <= 0 for n in counts.values()), counts
    # the seat claimed by the failed login starts its grace period, as if the socket had dropped
    assert await redis.zscore(keys.timers(org.id), f"grace|{agent_id}") is not None

    sio, refused = await connect_agent(org.base, token)
    try:
        assert refused is None
        assert sum(int(n) for n in (await redis.hgetall(keys.agent_sockets(org.id, agent_id))).values()) == 1
    finally:
        await sio.disconnect()


