"""The customer's web chat on its own: resume after a reload, leave the queue (abandoned), the embed."""

import re

import pytest
from desktop_fixtures import open_desktop
from playwright.async_api import expect

pytestmark = pytest.mark.browser


async def test_waiting_chat_resumes_after_reload_and_leaving_abandons_it(new_page, org, pool):
    customer = await new_page()
    await customer.goto(f"{org.base}/chat/{org.id}")
    await customer.get_by_label("Your name").fill("Walt")
    await customer.get_by_label("How can we help? (optional)").fill("Waiting here")
    await customer.get_by_role("button", name="Start chat").click()
    status = customer.locator("#chat-status")
    await expect(status).to_contain_text("number 1 in the queue")  # nobody is logged in to take it

    await customer.reload()
    await expect(customer.locator("#conversation-view")).to_be_visible()
    await expect(customer.locator("#chat-transcript")).to_contain_text("Waiting here")
    await expect(status).to_contain_text(re.compile(r"number 1 in the queue.*Estimated wait"))

    iid = await pool.fetchval("SELECT id::text FROM interactions WHERE org_id=$1 AND state='queued'", org.id)
    assert iid
    await customer.get_by_role("button", name="End chat").click()
    await expect(customer.locator("#ended-view")).to_contain_text("You left the queue")
    row = await pool.fetchrow("SELECT state, end_reason FROM interactions WHERE id=$1::uuid", iid)
    assert row["state"] == "abandoned"
    assert await customer.evaluate(f"sessionStorage.getItem('switchboard.chat.{org.id}')") is None


async def test_customer_ending_a_live_chat_sends_the_agent_to_wrap_up(new_page, org):
    agent = await new_page()
    await open_desktop(agent, org.base, org.email("agent2"))
    customer = await new_page()
    await customer.goto(f"{org.base}/chat/{org.id}")
    await customer.get_by_label("Your name").fill("Lena")
    await customer.get_by_role("button", name="Start chat").click()
    await agent.locator(".offer-card").get_by_role("button", name="Accept").click()
    await expect(customer.locator("#chat-status")).to_contain_text("chatting with")
    await customer.get_by_role("button", name="End chat").click()
    await expect(customer.locator("#ended-view")).to_contain_text("You ended the chat")
    await expect(agent.get_by_role("dialog", name="Wrap-up")).to_be_visible()
    await expect(agent.locator("#notices")).to_contain_text("Lena left the chat")


async def test_landing_page_links_the_pages_and_embeds_the_chat(new_page, org):
    page = await new_page()
    await page.goto(f"{org.base}/")
    for name, href in (("Agent desktop", "/agent"), ("Supervisor dashboard", "/supervisor"),
                       ("Admin console", "/admin"), ("Reports", "/reports"), ("Demo web chat", "/chat/demo")):
        await expect(page.get_by_role("link", name=re.compile(name))).to_have_attribute("href", href)
    await expect(page.locator("#embed-snippet")).to_have_text(
        f'<script src="{org.base}/static/js/chat/embed.js" data-org="demo" async></script>')
    await page.get_by_role("button", name="Try the widget on this page").click()
    frame = page.locator("iframe[data-switchboard-chat]")
    await expect(frame).to_have_attribute("src", f"{org.base}/chat/demo")
    await expect(frame).to_be_hidden()
    await page.get_by_role("button", name="Chat with us").click()
    await expect(frame).to_be_visible()
