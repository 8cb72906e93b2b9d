"""A customer on the web-chat page and an agent on the desktop, end to end, down to PostgreSQL."""

import asyncio
import re

import pytest
from desktop_fixtures import artifact, open_desktop, post_json
from harness import postgres_unreachable
from playwright.async_api import expect

from web.context import CTX

pytestmark = pytest.mark.browser


async def test_web_chat_is_offered_accepted_answered_and_wrapped_up(new_page, org, pool):
    agent = await new_page()
    await open_desktop(agent, org.base, org.email("agent2"))  # billing: the demo org's web-chat queue
    await expect(agent.get_by_test_id("state-badge")).to_have_text("Available")

    customer = await new_page()
    await customer.goto(f"{org.base}/chat/{org.id}")
    await customer.get_by_label("Your name").fill("Cora Customer")
    await customer.get_by_label("Email (optional)").fill("cora@example.test")
    await customer.get_by_label("How can we help? (optional)").fill("My invoice is wrong")
    await customer.get_by_role("button", name="Start chat").click()
    await expect(customer.locator("#conversation-view")).to_be_visible()

    card = agent.locator(".offer-card")
    await expect(card).to_have_count(1)
    await expect(card).to_contain_text("Cora Customer")
    await expect(card.locator(".offer-channel")).to_have_text("Chat")
    await expect(card.locator(".offer-queue")).to_have_text("billing")
    await expect(card.locator(".countdown")).to_have_text(re.compile(r"^0:\d\d$"))
    iid = await card.get_attribute("data-interaction-id")
    token = await customer.evaluate(f"sessionStorage.getItem('switchboard.chat.{org.id}')")
    assert token, "the chat token is kept for a reload"
    await card.get_by_role("button", name="Accept").click()

    tab = agent.get_by_role("tab", name="Cora Customer")
    await expect(tab).to_have_attribute("aria-selected", "true")
    panel = agent.locator(f"#panel-{iid}")
    await expect(panel.locator(".transcript")).to_contain_text("My invoice is wrong")
    await expect(customer.locator("#chat-transcript")).to_contain_text("joined the chat")
    await expect(customer.locator("#chat-status")).to_contain_text("chatting with Ben Agent")

    await panel.get_by_label("Reply to Cora Customer").fill("Hi Cora, let me check that invoice.")
    await panel.get_by_label("Reply to Cora Customer").press("Enter")
    said = customer.locator("#chat-transcript .from-agent")
    await expect(said).to_contain_text("let me check that invoice")

    await customer.get_by_label("Your message").fill("Thank you!")
    await customer.get_by_role("button", name="Send").click()
    await expect(panel.locator(".transcript")).to_contain_text("Thank you!")
    await expect(panel.locator(".profile")).not_to_contain_text("Loading profile")
    await expect(panel.locator(".profile")).to_contain_text("Cora Customer")

    await agent.screenshot(path=artifact("agent-desktop-conversation.png"))
    await customer.screenshot(path=artifact("web-chat-conversation.png"))

    await panel.get_by_role("button", name="End conversation").click()
    dialog = panel.get_by_role("dialog", name="Wrap-up")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(".countdown")).to_have_text(re.compile(r"^0:\d\d$"))
    await expect(customer.locator("#ended-view")).to_be_visible()
    await agent.screenshot(path=artifact("agent-desktop-wrap-up.png"))
    await dialog.get_by_label("Wrap-up code").select_option("resolved")
    await dialog.get_by_label("Notes").fill("Corrected the invoice")
    await dialog.get_by_role("button", name="Save wrap-up").click()
    await expect(tab).to_have_count(0)
    await expect(agent.locator("#notices")).to_contain_text("completed (resolved)")

    for _ in range(40):
        row = await pool.fetchrow("SELECT * FROM interactions WHERE id=$1::uuid", iid)
        if row["state"] == "completed":
            break
        await asyncio.sleep(0.05)
    assert row["state"] == "completed"
    assert row["channel"] == "chat" and row["queue"] == "billing"
    assert row["wrap_up_code"] == "resolved"
    assert row["wrap_up_notes"] == "Corrected the invoice"
    messages = await pool.fetch(
        "SELECT sender, text FROM messages WHERE interaction_id=$1::uuid ORDER BY id", iid)
    assert [(m["sender"], m["text"]) for m in messages] == [
        ("customer", "My invoice is wrong"),
        ("agent", "Hi Cora, let me check that invoice."),
        ("customer", "Thank you!"),
    ]


async def test_an_sms_reply_shows_what_became_of_it(new_page, org, http, server):
    """Off web chat a reply goes through the provider: the desktop shows its receipt as it moves
    (here the org has no SMS provider set up, so the outbox gives up and the agent must see that)."""
    agent = await new_page()
    await open_desktop(agent, org.base, org.email("agent1"))
    body = {"channel": "sms", "queue": "sales", "message": {"text": "Is my order shipped?"},
            "customer": {"identity": {"type": "phone", "value": "+14155550188"}, "name": "Sam Sender"}}
    status, created = await post_json(http, f"{org.base}/api/v1/interactions", body, org.api_key)
    assert status == 201, created
    card = agent.locator(f'.offer-card[data-interaction-id="{created["id"]}"]')
    await card.get_by_role("button", name="Accept").click()
    panel = agent.locator(f"#panel-{created['id']}")
    await panel.get_by_label("Reply to Sam Sender").fill("Let me look it up.")
    await panel.get_by_label("Reply to Sam Sender").press("Enter")
    reply = panel.locator(".msg.from-agent", has_text="Let me look it up.")
    await expect(reply.locator(".receipt")).to_have_text("Not delivered", timeout=10000)
    await expect(reply).to_have_attribute("data-message-id", re.compile(r"^\d+$"))
    # a customer's line has no receipt
    await expect(panel.locator(".msg.from-customer .receipt")).to_have_count(0)

    # while PostgreSQL is unreachable the reply waits in Redis, and the desktop says so; once it is
    # saved (the spool replayed), its receipt arrives under its new id and finds the line
    ctx = server.app[CTX]
    async with postgres_unreachable(ctx):
        await panel.get_by_label("Reply to Sam Sender").fill("Found it.")
        await panel.get_by_label("Reply to Sam Sender").press("Enter")
        later = panel.locator(".msg.from-agent", has_text="Found it.")
        await expect(later.locator(".receipt")).to_have_text(re.compile("^Waiting for the database"))
    await ctx.router.recorder.replay_spooled(org.id)  # or the reconciler's tick got there first
    await expect(later.locator(".receipt")).to_have_text("Not delivered", timeout=10000)
    await expect(later).to_have_attribute("data-message-id", re.compile(r"^\d+$"))
