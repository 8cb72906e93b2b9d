"""The walking skeleton end to end: intake → queue → offer → accept → messages → end → wrap-up."""

import asyncio

from harness import intake


def chat(queue: str = "sales", **extra):  # type: ignore[no-untyped-def]
    return {
        "channel": "chat",
        "queue": queue,
        "customer": {"identity": {"type": "email", "value": "c@x.test"}, "name": "Cora"},
        "message": {"text": "hello"},
        **extra,
    }


async def test_interaction_flows_to_completed(http, org, agents, pool):
    agent = await agents("agent1")
    session = await agent.wait("session")
    assert session["state"] == "available"
    status, body = await intake(http, org, chat())
    assert status == 201, body
    offer = await agent.wait("offer")
    assert offer["interaction"]["id"] == body["id"]
    ack = await agent.call("offer:accept", {"offer_id": offer["offer_id"]})
    assert ack == {"ok": True, "interaction_id": body["id"]}
    await agent.wait("interaction:connected")
    ack = await agent.call("message:send", {"interaction_id": body["id"], "text": "hi, how can I help?"})
    assert ack["ok"], ack
    async with http.post(
        f"{org.base}/api/v1/interactions/{body['id']}/messages",
        json={"text": "my bill"},
        headers={"Authorization": f"Bearer {org.api_key}"},
    ) as r:
        assert r.status == 201
    msg = await agent.wait("message")
    assert msg["text"] == "my bill" and msg["from"] == "customer"
    ack = await agent.call("interaction:end", {"interaction_id": body["id"]})
    assert ack["ok"], ack
    ack = await agent.call("interaction:wrap_up", {"interaction_id": body["id"], "code": "resolved", "notes": "ok"})
    assert ack["ok"], ack
    await asyncio.sleep(0.2)
    row = await pool.fetchrow("SELECT * FROM interactions WHERE id=$1::uuid", body["id"])
    assert row["state"] == "completed"
    assert row["wrap_up_code"] == "resolved"
    assert row["offered_at"] and row["connected_at"] and row["ended_at"] and row["completed_at"]
    texts = [
        r["text"]
        for r in await pool.fetch("SELECT text FROM messages WHERE interaction_id=$1::uuid ORDER BY id", body["id"])
    ]
    assert texts == ["hello", "hi, how can I help?", "my bill"]
