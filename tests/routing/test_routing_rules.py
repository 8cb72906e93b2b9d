"""Routing semantics on real Redis: strategies, ordering, drain, offers, RONA, escalation, capacity."""

import pytest

from routing.router import RoutingError

SALES = {"name": "sales", "channels": ["chat", "sms", "email", "voice"], "skills": {"sales": 1}}


async def test_longest_idle_picks_the_agent_idle_longest(env):
    await env.queue(**SALES)
    a = await env.agent("a", {"sales": 5})
    env.clock.advance(10)
    b = await env.agent("b", {"sales": 5})
    _, rep = await env.interaction("sales")
    assert rep["offers"][0]["agent"] == a and rep["offers"][0]["rule"] == "longest_idle"
    del b


async def test_most_skilled_picks_highest_proficiency(env):
    await env.queue(**{**SALES, "strategy": "most_skilled"})
    await env.agent("a", {"sales": 3})
    b = await env.agent("b", {"sales": 9})
    await env.agent("c", {"sales": 6})
    _, rep = await env.interaction("sales")
    assert rep["offers"][0]["agent"] == b


async def test_least_occupied_weighs_open_interactions_per_channel(env):
    await env.queue(**{**SALES, "strategy": "least_occupied"})
    a = await env.agent("a", {"sales": 5}, capacity={"chat": 3, "email": 5})
    env.clock.advance(1)
    b = await env.agent("b", {"sales": 5}, capacity={"chat": 3, "email": 5})
    first, rep = await env.interaction("sales")
    assert rep["offers"][0]["agent"] == a  # equal load: the longer idle
    await env.router.accept(env.org, a, rep["offers"][0]["offer_id"])
    _, rep = await env.interaction("sales")
    assert rep["offers"][0]["agent"] == b  # a now holds a third of its chat capacity
    del first


async def test_round_robin_rotates(env):
    await env.queue(**{**SALES, "strategy": "round_robin"})
    ids = [await env.agent(n, {"sales": 5}) for n in ("a", "b", "c")]
    got = []
    for _ in range(6):
        _, rep = await env.interaction("sales")
        o = rep["offers"][0]
        got.append(o["agent"])
        await env.router.accept(env.org, o["agent"], o["offer_id"])
        await env.router.end(env.org, o["agent"], o["iid"])
        await env.router.wrap_up(env.org, o["agent"], o["iid"], "resolved")
        env.clock.advance(1)
    assert got[:3] == got[3:] and sorted(got[:3]) == sorted(ids)


async def test_queue_orders_by_priority_then_age_and_requeue_keeps_place(env):
    await env.queue(**SALES)
    low_old, _ = await env.interaction("sales", priority=1)
    env.clock.advance(1)
    high, _ = await env.interaction("sales", priority=9)
    env.clock.advance(1)
    low_new, _ = await env.interaction("sales", priority=1)
    assert await env.waiting("sales") == [high, low_old, low_new]
    a = await env.agent("a", {"sales": 5}, capacity={"chat": 1})
    offer = env.recorder.offers()[-1]
    assert offer["iid"] == high and offer["agent"] == a
    rep = await env.router.reject(env.org, a, offer["offer_id"])
    # back at the head of the queue; the freed agent gets the next one, not the one it declined
    assert [o["iid"] for o in rep["offers"]] == [low_old]
    assert await env.waiting("sales") == [high, low_new]
    assert (await env.live(high))["state"] == "queued"


async def test_rejected_interaction_goes_to_next_agent_and_not_back(env):
    await env.queue(**SALES)
    a = await env.agent("a", {"sales": 5})
    env.clock.advance(1)
    b = await env.agent("b", {"sales": 5})
    iid, rep = await env.interaction("sales")
    assert rep["offers"][0]["agent"] == a
    rep = await env.router.reject(env.org, a, rep["offers"][0]["offer_id"])
    assert [o["agent"] for o in rep["offers"]] == [b]
    rep = await env.router.reject(env.org, b, rep["offers"][0]["offer_id"])
    # both declined: it waits; the next sweep offers it again to one of them
    assert rep["offers"] == [] and (await env.live(iid))["state"] == "queued"
    rep = await env.router.sweep(env.org)
    assert rep["offers"][0]["iid"] == iid and rep["offers"][0]["rule"] == "all_declined_retry"


async def test_offer_timeout_is_rona(env):
    await env.queue(**{**SALES, "offer_timeout_s": 5})
    a = await env.agent("a", {"sales": 5})
    env.clock.advance(1)
    b = await env.agent("b", {"sales": 5})
    iid, rep = await env.interaction("sales")
    assert rep["offers"][0]["agent"] == a
    await env.advance(4)
    assert (await env.live(iid))["agent"] == a
    await env.advance(2)
    live = await env.agent_live(a)
    assert live["state"] == "not_ready" and live["idle_code"] == "rona" and live["load"].get("chat", 0) == 0
    assert (await env.live(iid))["agent"] == b
    revoked = [r for rep in env.recorder.reports for r in rep.get("revoked") or []]
    assert revoked[0]["reason"] == "timeout" and revoked[0]["agent"] == a


async def test_drain_offers_best_waiting_across_queues_when_agent_frees(env):
    await env.queue(**SALES)
    await env.queue(name="billing", channels=["chat"], skills={"billing": 1})
    old_billing, _ = await env.interaction("billing")
    env.clock.advance(1)
    vip_sales, _ = await env.interaction("sales", priority=5)
    env.clock.advance(1)
    a = await env.agent("a", {"sales": 5, "billing": 5}, capacity={"chat": 1})
    assert env.recorder.offers()[-1]["iid"] == vip_sales
    offer = env.recorder.offers()[-1]
    await env.router.accept(env.org, a, offer["offer_id"])
    await env.router.end(env.org, a, vip_sales)
    rep = await env.router.wrap_up(env.org, a, vip_sales, "resolved")
    assert rep["offers"][0]["iid"] == old_billing and rep["offers"][0]["rule"] == "drain_best_waiting"


async def test_capacity_per_channel_and_voice_exclusive(env):
    await env.queue(**SALES)
    a = await env.agent("a", {"sales": 5}, capacity={"chat": 2, "voice": 1})
    _, r1 = await env.interaction("sales")
    _, r2 = await env.interaction("sales")
    c3, r3 = await env.interaction("sales")
    assert r1["offers"] and r2["offers"] and not r3["offers"]
    v, rv = await env.interaction("sales", channel="voice")
    assert not rv["offers"]  # a call needs an agent with nothing else open
    for rep in (r1, r2):
        o = rep["offers"][0]
        await env.router.reject(env.org, a, o["offer_id"])
    live = await env.agent_live(a)
    assert sum(live["load"].values()) <= 2
    del c3, v


async def test_escalation_relaxes_proficiency_then_overflows(env):
    await env.queue(name="general", channels=["chat"], skills={})
    await env.queue(
        name="vipq",
        channels=["chat"],
        skills={"billing": 9},
        escalation=[{"after_s": 30, "min_proficiency": {"billing": 5}}, {"after_s": 60, "overflow_queue": "general"}],
    )
    a = await env.agent("a", {"billing": 6})
    iid, rep = await env.interaction("vipq")
    assert rep["offers"] == []
    assert rep["decisions"][0]["candidates"][0] == [a, "proficiency"]
    await env.advance(31)
    assert (await env.live(iid))["agent"] == a
    rej = env.recorder.offers()[-1]
    await env.router.reject(env.org, a, rej["offer_id"])
    # nobody else can take it in vipq; at 60 s it overflows to general, where b waits
    b = await env.agent("b", {"other": 1})
    await env.advance(30)
    live = await env.live(iid)
    assert live["queue"] == "general" and live["agent"] == b


async def test_max_wait_abandons(env):
    await env.queue(**{**SALES, "max_wait_s": 10})
    iid, _ = await env.interaction("sales")
    await env.advance(11)
    assert (await env.live(iid))["state"] == "abandoned"
    assert iid not in await env.waiting("sales")


async def test_wrap_up_timeout_makes_agent_available(env):
    await env.queue(**{**SALES, "wrap_up_s": 15})
    a = await env.agent("a", {"sales": 5})
    iid, rep = await env.interaction("sales")
    await env.router.accept(env.org, a, rep["offers"][0]["offer_id"])
    await env.router.end(env.org, a, iid)
    assert (await env.agent_live(a))["state"] == "wrap_up"
    await env.advance(16)
    assert (await env.live(iid))["state"] == "completed"
    assert (await env.agent_live(a))["state"] == "available"


async def test_accepting_someone_elses_offer_is_refused(env):
    await env.queue(**SALES)
    a = await env.agent("a", {"sales": 5})
    b = await env.agent("b", {"sales": 5}, state="not_ready")
    _, rep = await env.interaction("sales")
    with pytest.raises(RoutingError) as e:
        await env.router.accept(env.org, b, rep["offers"][0]["offer_id"])
    assert e.value.code == "forbidden"
    del a


async def test_decision_log_lists_exclusions(env, pool):
    await env.queue(**SALES)
    await env.agent("a", {"sales": 5}, capacity={"chat": 0})
    a2 = await env.agent("b", {"sales": 5})
    iid, rep = await env.interaction("sales", skills={"spanish": 3})
    assert rep["decisions"][0]["outcome"] == "waiting"
    rows = await pool.fetch("SELECT outcome, candidates FROM routing_decisions WHERE interaction_id=$1::uuid", iid)
    reasons = {c["agent_id"]: c["excluded"] for c in rows[0]["candidates"]}
    assert reasons[a2] == "skill"


async def test_agent_full_on_a_channel_is_not_a_candidate_for_it_but_is_for_another(env):
    await env.queue(**SALES)
    a = await env.agent("a", {"sales": 5}, capacity={"chat": 1, "email": 1})
    _, first = await env.interaction("sales")
    assert first["offers"][0]["agent"] == a
    _, chat = await env.interaction("sales")
    # routing scans the queue's chat-ready agents only: a full agent is not even considered
    assert not chat["offers"] and chat["decisions"][0]["candidates"] in ([], {})
    _, email = await env.interaction("sales", channel="email")
    assert email["offers"][0]["agent"] == a
