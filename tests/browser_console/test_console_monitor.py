"""The supervisor's read-only monitor: a side panel following one live interaction in a real browser."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from console_fixtures import artifact, chat, post_interaction, sign_in
from playwright.async_api import Locator, Page, expect

pytestmark = pytest.mark.browser
LIVE = 1500  # ms: the dashboard's batched diffs
POLL = 4500  # ms: the monitor refreshes every 2 s, so a change shows within two rounds
XSS = '<img src=x onerror="window.__xss = 1">'



def field(panel: Locator, name: str) -> Locator:
    return panel.locator(f'[data-field="{name}"]')


async def expect_fields(panel: Locator, texts: dict[str, str | re.Pattern[str]]) -> None:
    """The panel's fields show these texts (each waited for, as ``to_have_text`` does)."""
    for name, text in texts.items():
        await expect(field(panel, name)).to_have_text(text)

async def open_dashboard(page: Page, org: Any) -> None:
    await sign_in(page, org.base, "/supervisor", org.email("supervisor"))
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")


async def customer_says(http: aiohttp.ClientSession, org: Any, interaction_id: str, text: str) -> None:
    headers = {"Authorization": f"Bearer {org.api_key}"}
    url = f"{org.base}/api/v1/interactions/{interaction_id}/messages"
    async with http.post(url, json={"text": text}, headers=headers) as r:
        assert r.status == 201, await r.text()


async def test_monitor_follows_a_live_conversation_from_the_agent_grid(page, org, agents, http):
    await open_dashboard(page, org)
    agent_id = org.users[org.email("agent1")]
    agent = await agents("agent1")
    await agent.wait("session")
    body = chat("sales", name="Mallory", subject="Refund for order 1042")
    body["customer"]["name"] = "Mallory <b>Evil</b>"
    created = await post_interaction(http, org.base, org.api_key, body)
    iid = created["id"]
    offer = await agent.wait("offer")
    ack = await agent.call("offer:accept", {"offer_id": offer["offer_id"]})
    assert ack["ok"], ack
    ack = await agent.call("message:send", {"interaction_id": iid, "text": "Hi Mallory, I can help with that."})
    assert ack["ok"], ack
    await customer_says(http, org, iid, XSS)

    opener = page.locator(f'tr[data-agent="{agent_id}"] [data-monitor="{iid}"]')
    await expect(opener).to_be_visible(timeout=LIVE * 2)
    # every request the panel makes for this interaction, to check they never overlap
    inflight = {"now": 0, "max": 0, "count": 0}

    def started(req: Any) -> None:
        if f"/api/v1/interactions/{iid}" in req.url:
            inflight["now"] += 1
            inflight["count"] += 1
            inflight["max"] = max(inflight["max"], inflight["now"])

    def done(req: Any) -> None:
        if f"/api/v1/interactions/{iid}" in req.url:
            inflight["now"] -= 1

    page.on("request", started)
    page.on("requestfinished", done)
    page.on("requestfailed", done)
    await opener.click()

    panel = page.get_by_role("dialog", name=f"Interaction {iid[:8]}")
    await expect(panel).to_be_visible()
    await expect(panel.get_by_role("button", name="Close monitor")).to_be_focused()
    await expect(field(panel, "live")).to_have_text("live", timeout=POLL)
    await expect_fields(
        panel,
        {
            "customer": "Mallory <b>Evil</b>",
            "channel": "chat",
            "queue": "sales",
            "state-chip": "Connected",
            "priority": "0",
            "subject": "Refund for order 1042",
            "agent": "Ada Agent",
            "handled": re.compile(r"^0:0\d$"),
        },
    )

    log = panel.get_by_role("log", name="Transcript")
    msgs = log.locator("li.msg")
    await expect(msgs).to_have_count(3)
    await expect(msgs.nth(0)).to_have_attribute("data-from", "customer")
    await expect(msgs.nth(0)).to_contain_text("hello")
    await expect(msgs.nth(1)).to_have_attribute("data-from", "agent")
    await expect(msgs.nth(1).locator(".msg-who")).to_have_text("Ada Agent")
    await expect(msgs.nth(1)).to_contain_text("I can help with that.")
    # the payload is shown as text and never becomes markup
    await expect(msgs.nth(2).locator(".msg-text")).to_have_text(XSS)
    assert await panel.locator("img, b").count() == 0
    assert await page.evaluate("window.__xss") is None
    agent_bg, customer_bg = [
        await m.evaluate("el => getComputedStyle(el).backgroundColor") for m in (msgs.nth(1), msgs.nth(0))
    ]
    assert agent_bg != customer_bg

    # a new message appears on its own
    await customer_says(http, org, iid, "Order 1042, paid twice.")
    await expect(msgs).to_have_count(4, timeout=POLL)
    await expect(msgs.nth(3)).to_contain_text("Order 1042, paid twice.")
    ack = await agent.call("message:send", {"interaction_id": iid, "text": "Refunded the second charge."})
    assert ack["ok"], ack
    await expect(msgs).to_have_count(5, timeout=POLL)
    await expect(msgs.nth(4)).to_have_attribute("data-from", "agent")

    # the routing log, collapsed until asked for
    routing = panel.locator("details.routing")
    decision = routing.locator("li.decision").first
    await expect(routing).not_to_have_attribute("open", "")
    await expect(decision).to_be_hidden()
    await routing.locator("summary").click()
    await expect(decision).to_be_visible()
    await expect(decision).to_contain_text("offered to Ada Agent")
    await expect(decision.locator(".rule")).to_have_text("longest_idle")
    await expect(decision.locator(".trigger")).to_have_text("new")
    await page.screenshot(path=artifact("supervisor-monitor.png"))

    # the conversation ends: the panel says so and stops asking
    ack = await agent.call("interaction:end", {"interaction_id": iid})
    assert ack["ok"], ack
    await expect(field(panel, "ended")).to_contain_text("Conversation ended", timeout=POLL)
    ack = await agent.call("interaction:wrap_up", {"interaction_id": iid, "code": "resolved"})
    assert ack["ok"], ack
    await expect(field(panel, "live")).to_have_text("ended", timeout=POLL)
    await expect(field(panel, "state-chip")).to_have_text("Completed")
    await expect(field(panel, "ended")).to_contain_text("wrap-up: resolved")
    after_end = inflight["count"]
    await page.wait_for_timeout(2500)
    assert inflight["count"] == after_end, "the panel kept polling an ended interaction"
    assert inflight["max"] == 1, f"overlapping requests: {inflight}"

    # Esc closes it; focus goes back to the id that opened it, or to its section once the id is gone
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    focused = await page.evaluate("[document.activeElement.dataset.monitor, document.activeElement.id]")
    assert focused in ([iid, ""], [None, "agents-title"]), focused


async def test_monitor_opens_from_the_waiting_table_and_follows_the_offer(page, org, agents, http):
    await open_dashboard(page, org)
    agent = await agents("agent1")
    await agent.wait("session")
    ack = await agent.call("state:set", {"state": "not_ready", "idle_code": "meeting"})
    assert ack["ok"], ack
    created = await post_interaction(http, org.base, org.api_key, chat("sales", name="Wanda", priority=4))
    iid = created["id"]
    row = page.locator(f'#waiting tr[data-interaction="{iid}"]')
    opener = row.get_by_role("button", name=f"Monitor interaction {iid[:8]}")
    await expect(opener).to_be_visible(timeout=LIVE * 2)
    await opener.focus()
    await page.keyboard.press("Enter")

    panel = page.get_by_role("dialog", name=f"Interaction {iid[:8]}")
    await expect(panel).to_be_visible()
    await expect(field(panel, "state-chip")).to_have_text("Queued", timeout=POLL)
    await expect_fields(panel, {"customer": "Wanda", "priority": "4", "agent": "—", "handled": "—"})
    await expect(field(panel, "position")).to_contain_text("#1")
    await expect(opener).to_have_attribute("aria-expanded", "true")

    # the agent comes back, is offered it, declines; the retry and the reason show in the log
    ack = await agent.call("state:set", {"state": "available"})
    assert ack["ok"], ack
    offer = await agent.wait("offer")
    await expect(field(panel, "state-chip")).to_have_text("Offered", timeout=POLL)
    await expect(field(panel, "agent")).to_have_text("Ada Agent")
    ack = await agent.call("offer:reject", {"offer_id": offer["offer_id"], "reason": "busy"})
    assert ack["ok"], ack
    await panel.locator("details.routing summary").click()
    decisions = panel.locator("li.decision")
    await expect(decisions.filter(has_text="declined it before").first).to_be_visible(timeout=POLL)
    await expect(field(panel, "live")).to_have_text("live")
    await page.screenshot(path=artifact("supervisor-monitor-waiting.png"))

    await panel.get_by_role("button", name="Close monitor").click()
    await expect(panel).to_be_hidden()


async def test_monitor_shows_errors_in_the_panel(page, org, agents, http):
    await open_dashboard(page, org)
    agent = await agents("agent1")
    await agent.wait("session")
    ack = await agent.call("state:set", {"state": "not_ready", "idle_code": "meeting"})
    assert ack["ok"], ack
    created = await post_interaction(http, org.base, org.api_key, chat("billing", name="Nell"))
    iid = created["id"]
    opener = page.locator(f'#waiting [data-monitor="{iid}"]')
    await expect(opener).to_be_visible(timeout=LIVE * 2)

    # the network drops: the panel says so and keeps trying; it recovers on its own
    await page.route(f"**/api/v1/interactions/{iid}", lambda route: route.abort())
    await opener.click()
    panel = page.get_by_role("dialog", name=f"Interaction {iid[:8]}")
    alert = panel.get_by_role("alert")
    await expect(alert).to_contain_text("network_error")
    await expect(field(panel, "live")).to_have_text("retrying")
    await page.unroute(f"**/api/v1/interactions/{iid}")
    await expect(field(panel, "live")).to_have_text("live", timeout=POLL)
    await expect(alert).to_be_hidden()
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(opener).to_be_focused()

    # the interaction is gone (another org's, or never existed): a 404 in the panel, no retries
    await page.route(
        f"**/api/v1/interactions/{iid}",
        lambda route: route.fulfill(
            status=404,
            content_type="application/json",
            body='{"error": {"code": "not_found", "message": "no such interaction", "details": null}}',
        ),
    )
    await opener.click()
    await expect(alert).to_contain_text("not_found: no such interaction")
    await expect(field(panel, "live")).to_have_text("unavailable")
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
