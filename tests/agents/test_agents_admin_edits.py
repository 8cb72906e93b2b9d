"""Admin edits reach the next login at once, though logins read profiles from a per-process cache."""

from __future__ import annotations

import json

from harness import connect_agent, login_token

from switchboard import keys


async def test_a_deactivated_agent_is_refused_at_once_and_an_edit_shows_at_the_next_login(http, org, agents, redis):
    await agents("agent2")  # the org's profiles are now cached in the server process
    admin = {"Authorization": f"Bearer {await login_token(http, org, 'admin')}"}
    token = await login_token(http, org, "agent1")
    async with http.delete(f"{org.base}/api/v1/users/{org.users[org.email('agent1')]}", headers=admin) as r:
        assert r.status == 200
    sio, refused = await connect_agent(org.base, token)
    await sio.disconnect()
    # deactivation cuts off the agent's tokens (web/revocation.py), before any profile is read
    assert refused == {"code": "unauthorized", "message": "token revoked", "details": {
        "reason": "deactivated", "advice": "Your account was deactivated by an admin."}}

    eve = org.users[org.email("agent5")]
    async with http.patch(f"{org.base}/api/v1/users/{eve}", json={"skills": {"spanish": 3}}, headers=admin) as r:
        assert r.status == 200
    await (await agents("agent5")).wait("session")
    assert json.loads(await redis.hget(keys.agent(org.id, eve), "skills")) == {"spanish": 3}
