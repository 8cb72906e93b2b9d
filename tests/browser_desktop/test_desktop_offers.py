"""Offers on the desktop: rejecting puts the interaction back in its queue; an unanswered offer
times out (RONA) and the desktop shows the agent as not ready / rona."""

import re

import pytest
from desktop_fixtures import artifact, chat_body, get_json, open_desktop, post_json
from harness import login_token
from playwright.async_api import expect

pytestmark = pytest.mark.browser


async def test_rejected_offer_goes_back_to_the_queue(new_page, org, http, agents):
    # a second sales agent who is logged in but on break: until they too decline it, the routing
    # engine does not offer the chat back to the agent who rejected it, so it waits in the queue
    other = await agents("agent5")
    ack = await other.call("state:set", {"state": "not_ready", "idle_code": "break"})
    assert ack["ok"], ack
    agent = await new_page()
    await open_desktop(agent, org.base, org.email("agent1"))
    status, created = await post_json(http, f"{org.base}/api/v1/interactions",
                                      chat_body("sales", "Rita", "Do you ship to Norway?"), org.api_key)
    assert status == 201, created
    card = agent.locator(f'.offer-card[data-interaction-id="{created["id"]}"]')
    await expect(card).to_contain_text("Rita")
    await card.get_by_role("button", name="Reject").click()
    await expect(card).to_have_count(0)
    await expect(agent.locator(".offer-card")).to_have_count(0)

    status, body = await get_json(http, f"{org.base}/api/v1/interactions/{created['id']}", org.api_key)
    assert status == 200, body
    assert body["state"] == "queued"
    assert body["queue"] == "sales"
    await expect(agent.get_by_test_id("state-badge")).to_have_text("Available")


async def test_unanswered_offer_times_out_and_the_desktop_shows_rona(new_page, org, http):
    admin = await login_token(http, org, "admin")
    status, body = await post_json(http, f"{org.base}/api/v1/queues", {
        "name": "fastq", "channels": ["chat"], "skills": {"sales": 1}, "offer_timeout_s": 2}, admin)
    assert status == 201, body
    agent = await new_page()
    await open_desktop(agent, org.base, org.email("agent1"))
    status, created = await post_json(http, f"{org.base}/api/v1/interactions",
                                      chat_body("fastq", "Tim", "Anyone there?"), org.api_key)
    assert status == 201, created
    card = agent.locator(f'.offer-card[data-interaction-id="{created["id"]}"]')
    await expect(card).to_contain_text("Tim")
    await expect(card.locator(".countdown")).to_have_text(re.compile(r"^0:0[0-2]$|^expiring"))

    badge = agent.get_by_test_id("state-badge")
    await expect(badge).to_have_attribute("data-idle-code", "rona", timeout=8000)
    await expect(badge).to_contain_text("RONA")
    await expect(badge).to_have_attribute("data-state", "not_ready")
    await expect(card).to_have_count(0)
    await expect(agent.locator("#notices")).to_contain_text("not answered in time")
    await agent.screenshot(path=artifact("agent-desktop-rona.png"))

    status, body = await get_json(http, f"{org.base}/api/v1/interactions/{created['id']}", org.api_key)
    assert status == 200 and body["state"] == "queued", body

    # the agent makes themself available again from the selector; the waiting chat comes back
    await agent.get_by_label("Status").select_option("available")
    await expect(badge).to_have_text("Available")


async def test_log_out_frees_the_agent_and_returns_to_sign_in(new_page, org):
    agent = await new_page()
    await open_desktop(agent, org.base, org.email("agent3"))
    await agent.get_by_role("button", name="Log out").click()
    await expect(agent.get_by_role("heading", name="Agent sign in")).to_be_visible()
    await expect(agent.get_by_role("alert")).to_contain_text("You are logged out")
    assert await agent.evaluate("sessionStorage.getItem('switchboard.auth')") is None


async def test_a_forced_logout_is_said_once_and_the_agent_can_sign_back_on(new_page, org, http):
    agent = await new_page()
    await open_desktop(agent, org.base, org.email("agent4"))
    badge = agent.locator("#state-badge")
    await expect(badge).to_have_text("Available")
    supervisor = await login_token(http, org, "supervisor")
    agent_id = org.users[org.email("agent4")]
    status, body = await post_json(http, f"{org.base}/api/v1/agents/{agent_id}/state", {"state": "logged_out"},
                                   supervisor)
    assert status == 200, body
    await expect(badge).to_have_text("Logged out")
    # back on from the selector: its ack comes after everything the logout sent, so by then every
    # "logged out" the desktop was going to show is there
    await agent.get_by_label("Status").select_option("available")
    await expect(badge).to_have_text("Available")
    await expect(agent.locator("#notices").get_by_text("You were logged out by a supervisor")).to_have_count(1)
