"""The supervisor dashboard in a real browser against the real server: live diffs and actions."""

from __future__ import annotations

import pytest
from console_fixtures import artifact, chat, post_interaction, sign_in
from playwright.async_api import Page, expect

pytestmark = pytest.mark.browser
LIVE = 1500  # ms: batched at most every 500 ms, so an update shows well within this


async def open_dashboard(page: Page, org) -> None:  # type: ignore[no-untyped-def]
    await sign_in(page, org.base, "/supervisor", org.email("supervisor"))
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")


def tile_field(page: Page, queue: str, field: str):  # type: ignore[no-untyped-def]
    return page.locator(f'article.tile[data-queue="{queue}"] [data-field="{field}"]')


def agent_field(page: Page, agent_id: str, field: str):  # type: ignore[no-untyped-def]
    return page.locator(f'tr[data-agent="{agent_id}"] [data-field="{field}"]')


async def test_dashboard_follows_an_offer_and_answer_in_the_agent_grid(page, org, agents, http):
    await open_dashboard(page, org)
    agent_id = org.users[org.email("agent1")]
    agent = await agents("agent1")
    await agent.wait("session")
    await expect(agent_field(page, agent_id, "state")).to_have_text("Available", timeout=LIVE)
    ack = await agent.call("state:set", {"state": "not_ready", "idle_code": "meeting"})
    assert ack["ok"], ack
    await expect(agent_field(page, agent_id, "idle_code")).to_have_text("meeting", timeout=LIVE)
    await expect(agent_field(page, agent_id, "state")).to_have_text("Not ready")

    created = await post_interaction(http, org.base, org.api_key, chat("sales"))
    ack = await agent.call("state:set", {"state": "available"})
    assert ack["ok"], ack
    offer = await agent.wait("offer")
    assert offer["interaction"]["id"] == created["id"]
    await expect(agent_field(page, agent_id, "state")).to_have_text("Available", timeout=LIVE)
    await expect(agent_field(page, agent_id, "load")).to_have_text("chat 1", timeout=LIVE)
    await expect(agent_field(page, agent_id, "interactions")).to_contain_text(created["id"][:8], timeout=LIVE)
    await expect(tile_field(page, "sales", "waiting")).to_have_text("0", timeout=LIVE)
    await expect(page.locator(f'#waiting tr[data-interaction="{created["id"]}"]')).to_have_count(0)

    ack = await agent.call("offer:accept", {"offer_id": offer["offer_id"]})
    assert ack["ok"], ack
    await agent.wait("interaction:connected")
    ack = await agent.call("interaction:end", {"interaction_id": created["id"]})
    assert ack["ok"], ack
    await expect(agent_field(page, agent_id, "state")).to_have_text("Wrap-up", timeout=LIVE)
    await expect(agent_field(page, agent_id, "load")).to_have_text("chat 1")
    await page.screenshot(path=artifact("supervisor-dashboard.png"), full_page=True)


async def test_dashboard_shows_arrival_and_answer_within_a_second(page, org, agents, http):
    await open_dashboard(page, org)
    agent_id = org.users[org.email("agent1")]
    agent = await agents("agent1")
    await agent.wait("session")
    ack = await agent.call("state:set", {"state": "not_ready", "idle_code": "meeting"})
    assert ack["ok"], ack
    await expect(tile_field(page, "sales", "waiting")).to_have_text("0")
    await expect(tile_field(page, "sales", "answered")).to_have_text("0")
    created = await post_interaction(http, org.base, org.api_key, chat("sales"))
    await expect(tile_field(page, "sales", "waiting")).to_have_text("1", timeout=LIVE)
    await expect(page.locator(f'#waiting tr[data-interaction="{created["id"]}"]')).to_be_visible(timeout=LIVE)

    ack = await agent.call("state:set", {"state": "available"})
    assert ack["ok"], ack
    offer = await agent.wait("offer")
    await expect(tile_field(page, "sales", "waiting")).to_have_text("0", timeout=LIVE)
    await expect(agent_field(page, agent_id, "load")).to_have_text("chat 1", timeout=LIVE)
    ack = await agent.call("offer:accept", {"offer_id": offer["offer_id"]})
    assert ack["ok"], ack
    await expect(tile_field(page, "sales", "answered")).to_have_text("1", timeout=LIVE)


async def test_supervisor_forces_an_agent_not_ready_from_the_grid(page, org, agents):
    await open_dashboard(page, org)
    agent_id = org.users[org.email("agent2")]
    agent = await agents("agent2")
    await agent.wait("session")
    row = page.locator(f'tr[data-agent="{agent_id}"]')
    await expect(row.locator('[data-field="state"]')).to_have_text("Available", timeout=LIVE)
    await row.get_by_label("New state for").select_option("not_ready:break")
    await row.get_by_role("button", name="Set state of").click()
    pushed = await agent.wait("agent:state", timeout=3)
    while pushed["state"] != "not_ready":  # type: ignore[index]
        pushed = await agent.wait("agent:state", timeout=3)
    assert pushed["idle_code"] == "break"  # type: ignore[index]
    await expect(row.locator('[data-field="state"]')).to_have_text("Not ready", timeout=LIVE)
    await expect(row.locator('[data-field="idle_code"]')).to_have_text("break")
    await expect(page.locator("#agent-error")).to_be_hidden()
