"""The reports page in a real browser: today's intervals after a handled interaction, charts, CSV export."""

from __future__ import annotations

import pytest
from console_fixtures import chat, post_interaction, sign_in
from playwright.async_api import expect

pytestmark = pytest.mark.browser


async def test_report_page_shows_todays_intervals_and_exports_csv(page, org, agents, http):
    agent = await agents("agent1")
    await agent.wait("session")
    created = await post_interaction(http, org.base, org.api_key, chat("sales"))
    offer = await agent.wait("offer")
    assert (await agent.call("offer:accept", {"offer_id": offer["offer_id"]}))["ok"]  # type: ignore[index]
    assert (await agent.call("interaction:end", {"interaction_id": created["id"]}))["ok"]
    ack = await agent.call("interaction:wrap_up", {"interaction_id": created["id"], "code": "resolved"})
    assert ack["ok"], ack

    await sign_in(page, org.base, "/reports", org.email("supervisor"))
    await expect(page.locator("body")).to_have_attribute("data-loaded", "true")
    await page.get_by_label("Queue", exact=True).select_option("sales")
    await page.get_by_role("button", name="Show report").click()
    await expect(page.locator("#report-error")).to_be_hidden()
    await expect(page.locator('#queue-intervals tbody tr[data-queue="sales"]').first).to_be_visible()
    await expect(page.locator('#queue-intervals tfoot [data-total="answered"]')).to_have_text("1")
    answered_bars = "() => Chart.getChart(document.getElementById('volume-chart')).data.datasets[1].data"
    bars = await page.evaluate(answered_bars)
    assert sum(bars) == 1, bars

    async with page.expect_download() as info:
        await page.get_by_role("link", name="Export queue intervals (CSV)").click()
    download = await info.value
    text = open(await download.path(), encoding="utf-8").read()
    assert text.splitlines()[0].startswith("interval_start,queue,offered,answered")
    assert ",sales," in text
