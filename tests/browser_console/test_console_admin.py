"""The admin console in a real browser: queues that route at once, API errors beside the form, licenses."""

from __future__ import annotations

import asyncio
import json

import pytest
from console_fixtures import artifact, chat, post_interaction, sign_in
from harness import login_token
from playwright.async_api import expect

from switchboard import keys

pytestmark = pytest.mark.browser


async def test_a_queue_created_in_the_console_routes_at_once(page, org, agents, http):
    agent = await agents("agent1")  # already logged in: the new queue must reach them without a restart
    await agent.wait("session")
    await sign_in(page, org.base, "/admin#queues", org.email("admin"))
    form = page.locator("#queue-form")
    await form.get_by_label("Queue name").fill("vip")
    await form.get_by_label("Strategy").select_option("most_skilled")
    await form.get_by_label("Service level threshold (s)").fill("15")
    await form.get_by_label("email").check()
    await form.get_by_label("Required skills").fill("sales:5")
    await form.get_by_role("button", name="Add escalation step").click()
    await form.get_by_label("After (s)").fill("120")
    await form.get_by_label("Action").select_option("overflow_queue")
    await form.get_by_label("Skills (name:min) or queue").fill("sales")
    await form.get_by_role("button", name="Create queue").click()
    await expect(page.locator("#queue-notice")).to_contain_text("Created queue vip")
    row = page.locator('#queues-table tr[data-queue="vip"]')
    await expect(row).to_contain_text("most_skilled")
    await expect(row).to_contain_text("after 120s → sales")

    created = await post_interaction(http, org.base, org.api_key, chat("vip", name="Vera"))
    offer = await agent.wait("offer", timeout=3)
    assert offer["interaction"]["id"] == created["id"]  # type: ignore[index]
    assert offer["interaction"]["queue"] == "vip"  # type: ignore[index]
    await page.screenshot(path=artifact("admin-queues.png"), full_page=True)


async def test_api_errors_show_beside_the_form(page, org):
    await sign_in(page, org.base, "/admin#queues", org.email("admin"))
    form = page.locator("#queue-form")
    await form.get_by_label("Queue name").fill("sales")
    await form.get_by_role("button", name="Create queue").click()
    await expect(page.locator("#queue-error")).to_contain_text("conflict")
    await expect(page.locator("#queue-error")).to_contain_text("a queue with this name exists")

    await page.get_by_role("link", name="Users & agents").click()
    ufrm = page.locator("#user-form")
    email = f"newbie-{org.id}@example.com"
    await ufrm.get_by_label("Email").fill(email)
    await ufrm.get_by_label("Display name").fill("New Bie")
    await ufrm.get_by_label("Password").fill("longenough")
    await ufrm.get_by_label("Skills").fill("sales:11")
    await ufrm.get_by_role("button", name="Create user").click()
    await expect(page.locator("#user-error")).to_contain_text("validation_error")
    await expect(page.locator("#user-error")).to_contain_text("skills: ")
    await expect(page.locator("#user-error")).to_contain_text("1..10")
    await ufrm.get_by_label("Skills").fill("sales:4")
    await ufrm.get_by_role("button", name="Create user").click()
    await expect(page.locator("#user-notice")).to_contain_text("Created", timeout=3000)
    await expect(page.locator("#users-table")).to_contain_text(email)


async def test_license_page_shows_demo_usage_with_a_daily_chart(page, org, agents):
    agent = await agents("agent3")
    await agent.wait("session")
    await sign_in(page, org.base, "/admin#licenses", org.email("admin"))
    table = page.locator("#licenses-table tbody tr")
    await expect(table).to_have_count(2)
    await expect(page.locator("#licenses-table")).to_contain_text("concurrent")
    await expect(page.locator("#licenses-table")).to_contain_text("named")
    concurrent = page.locator('#usage article[data-license$="-concurrent"]')
    named = page.locator('#usage article[data-license$="-named"]')
    await expect(concurrent.locator('[data-field="peak_concurrent"]')).to_have_text("1")
    await expect(concurrent.locator('[data-field="used"]')).to_have_text("1 / 25 (4 %)")
    await expect(named.locator('[data-field="named_count"]')).to_have_text("1")
    await expect(page.locator("#license-warning")).to_be_hidden()
    labels = await page.evaluate("() => Chart.getChart(document.getElementById('usage-chart')).data.labels")
    assert 28 <= len(labels) <= 31, labels  # one point per day of the demo's monthly period
    await page.screenshot(path=artifact("admin-licenses.png"), full_page=True)


async def test_row_deletes_ask_first_where_they_should_then_reload_the_table(page, org, http):
    questions: list[str] = []

    async def answer(dialog) -> None:  # type: ignore[no-untyped-def]
        questions.append(dialog.message)
        await (dialog.dismiss() if dialog.message.startswith("Revoke") else dialog.accept())

    page.on("dialog", answer)
    await sign_in(page, org.base, "/admin#users", org.email("admin"))
    row = page.locator("#users-table tr", has_text=org.email("agent4"))
    await expect(row).not_to_have_class("inactive")
    await row.get_by_role("button", name="Deactivate").click()
    await expect(row).to_have_class("inactive")
    await expect(row.get_by_role("button", name="Deactivate")).to_be_disabled()

    await page.get_by_role("link", name="Skills & codes").click()
    await page.get_by_role("button", name="Delete idle code meeting").click()
    await expect(page.get_by_role("button", name="Delete idle code meeting")).to_have_count(0)

    await page.get_by_role("link", name="API keys").click()
    revoke = page.locator("#keys-table").get_by_role("button", name="Revoke key").first
    await revoke.click()  # dismissed: the key stays
    await expect(revoke).to_be_enabled()
    assert questions == ["Deactivate Dev Agent?", questions[1]], questions  # the code went without a prompt
    assert questions[1].startswith("Revoke the key"), questions
    token = await login_token(http, org, "admin")
    async with http.get(f"{org.base}/api/v1/idle-codes", headers={"Authorization": f"Bearer {token}"}) as r:
        assert "meeting" not in {c["code"] for c in (await r.json())["items"]}
    async with http.get(f"{org.base}/api/v1/api-keys", headers={"Authorization": f"Bearer {token}"}) as r:
        assert all(k["revoked_at"] is None for k in (await r.json())["items"])


async def test_an_admin_reads_what_postgresql_refused_and_discards_it(page, org, redis):
    # a webhook entry set aside during an outage (the outage tests make real ones)
    entry = {"id": "abc", "channel": "sms", "batch": {"messages": [], "statuses": []}}
    await redis.hset(keys.inbound_spool_refused(org.id), "abc", json.dumps(entry))
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await sign_in(page, org.base, "/admin#spools", org.email("admin"))
    hooks = page.get_by_role("article", name="Channel webhooks")
    await expect(hooks.locator(".spool-counts")).to_have_text("0 waiting for PostgreSQL · 1 refused")
    await expect(hooks.locator("pre.entry")).to_contain_text('"channel": "sms"')
    reports = page.get_by_role("article", name="Routing reports and conversation messages")
    await expect(reports.get_by_role("button", name="Retry refused")).to_be_disabled()
    await hooks.get_by_role("button", name="Discard refused channel webhooks").click()
    await expect(hooks.locator(".spool-counts")).to_have_text("0 waiting for PostgreSQL · 0 refused")
    assert await redis.hlen(keys.inbound_spool_refused(org.id)) == 0
