"""The session snapshot a desktop gets on connect: the server's truth, offers with expiry, live conversations."""

from __future__ import annotations

from harness import AgentClient, intake, login_token


def chat(text: str) -> dict[str, object]:
    return {
        "channel": "chat",
        "queue": "sales",
        "customer": {"identity": {"type": "email", "value": "c@x.test"}, "name": "Cora"},
        "message": {"text": text},
    }


async def test_a_second_socket_resumes_with_the_offer_and_the_conversation(http, org, agents):
    first = await agents("agent1")
    session = await first.wait("session")
    assert (session["state"], session["offers"], session["interactions"]) == ("available", [], [])
    assert {c["code"] for c in session["idle_codes"]} >= {"break", "lunch", "meeting"}
    assert {c["code"] for c in session["wrap_up_codes"]} == {"resolved", "follow_up", "escalated"}

    _, taken = await intake(http, org, chat("first"))
    offer = await first.wait("offer")
    assert (await first.call("offer:accept", {"offer_id": offer["offer_id"]}))["ok"]
    _, waiting = await intake(http, org, chat("second"))
    pending = await first.wait("offer")
    assert pending["interaction"]["id"] == waiting["id"]

    second = AgentClient(org, await login_token(http, org, "agent1"))
    await second.connect()
    try:
        snap = await second.wait("session")
        assert snap["agent_id"] == org.users[org.email("agent1")] and snap["state"] == "available"
        assert [(o["offer_id"], o["interaction"]["id"]) for o in snap["offers"]] == [
            (pending["offer_id"], waiting["id"])
        ]
        assert snap["offers"][0]["expires_at"] is not None
        assert [c["id"] for c in snap["interactions"]] == [taken["id"]]
        assert [m["text"] for m in snap["interactions"][0]["transcript"]] == ["first"]
        assert snap["load"] == {"chat": 2}  # an offer holds its slot too
    finally:
        await second.close()
