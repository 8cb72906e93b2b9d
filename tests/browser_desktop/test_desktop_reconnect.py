"""A dropped socket reconnects by itself and the desktop is rebuilt from the server's session."""

import pytest
from desktop_fixtures import chat_body, get_json, open_desktop, post_json
from playwright.async_api import expect

pytestmark = pytest.mark.browser


async def test_conversation_comes_back_after_the_socket_drops(new_page, org, http):
    agent = await new_page()
    await open_desktop(agent, org.base, org.email("agent1"))
    status, created = await post_json(http, f"{org.base}/api/v1/interactions",
                                      chat_body("sales", "Nora", "Is the blue one in stock?"), org.api_key)
    assert status == 201, created
    iid = created["id"]
    card = agent.locator(f'.offer-card[data-interaction-id="{iid}"]')
    await card.get_by_role("button", name="Accept").click()
    panel = agent.locator(f"#panel-{iid}")
    await expect(panel.locator(".transcript")).to_contain_text("Is the blue one in stock?")
    reply = panel.get_by_label("Reply to Nora")
    await reply.fill("Yes, we have three left.")
    await reply.press("Enter")
    await expect(panel.locator(".transcript .from-agent")).to_have_count(1)
    await reply.fill("half-typed draft")

    # forget what is on screen, then drop the transport: only the server's session can restore it
    await agent.evaluate("document.querySelectorAll('.transcript li').forEach((li) => li.remove())")
    await expect(panel.locator(".transcript li")).to_have_count(0)
    await agent.evaluate("window.switchboardDesktop.socket.io.engine.close()")
    await expect(agent.locator("body")).to_have_attribute("data-sessions", "2", timeout=8000)
    await expect(agent.locator("#connection")).to_contain_text("Reconnected")

    await expect(agent.get_by_role("tab", name="Nora")).to_have_attribute("aria-selected", "true")
    lines = panel.locator(".transcript li")
    await expect(lines).to_have_count(2)
    await expect(lines.nth(0)).to_contain_text("Is the blue one in stock?")
    await expect(lines.nth(1)).to_contain_text("Yes, we have three left.")
    await expect(reply).to_have_value("half-typed draft")

    # and the conversation still works over the new socket
    async with http.post(f"{org.base}/api/v1/interactions/{iid}/messages", json={"text": "Great, thanks"},
                         headers={"Authorization": f"Bearer {org.api_key}"}) as r:
        assert r.status == 201
    await expect(panel.locator(".transcript")).to_contain_text("Great, thanks")


async def test_transfer_to_a_queue_closes_the_tab_and_requeues_there(new_page, org, http):
    agent = await new_page()
    await open_desktop(agent, org.base, org.email("agent1"))
    status, created = await post_json(http, f"{org.base}/api/v1/interactions",
                                      chat_body("sales", "Omar", "My order broke"), org.api_key)
    assert status == 201, created
    iid = created["id"]
    await agent.locator(f'.offer-card[data-interaction-id="{iid}"]').get_by_role("button", name="Accept").click()
    panel = agent.locator(f"#panel-{iid}")
    await panel.get_by_text("Transfer…").click()
    await panel.get_by_label("Queue name").fill("support")
    await panel.get_by_role("button", name="Transfer", exact=True).click()
    await expect(agent.get_by_role("tab", name="Omar")).to_have_count(0)
    await expect(agent.locator("#notices")).to_contain_text("Transferred")
    status, body = await get_json(http, f"{org.base}/api/v1/interactions/{iid}", org.api_key)
    assert status == 200 and body["queue"] == "support", body
