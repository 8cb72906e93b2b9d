"""The strategy formulas, without Redis: each picks the agent it promises."""

from routing.strategies import AgentFigures, occupancy_permille, pick


def test_longest_idle_prefers_earliest_idle():
    a = AgentFigures("a", idle_since_ms=2000)
    b = AgentFigures("b", idle_since_ms=1000)
    assert pick("longest_idle", [a, b]) is b


def test_most_skilled_prefers_proficiency_then_idle():
    a = AgentFigures("a", idle_since_ms=1000, proficiency_sum=5)
    b = AgentFigures("b", idle_since_ms=2000, proficiency_sum=9)
    c = AgentFigures("c", idle_since_ms=500, proficiency_sum=9)
    assert pick("most_skilled", [a, b, c]) is c


def test_least_occupied_weighs_by_channel_capacity():
    # one email of five weighs less than one chat of three
    chat = AgentFigures("chat", 1, load={"chat": 1}, capacity={"chat": 3, "email": 5})
    email = AgentFigures("email", 2, load={"email": 1}, capacity={"chat": 3, "email": 5})
    assert occupancy_permille(chat) == 333 and occupancy_permille(email) == 200
    assert pick("least_occupied", [chat, email]) is email


def test_round_robin_prefers_least_recently_offered():
    a = AgentFigures("a", 1, last_offered_ms=300)
    b = AgentFigures("b", 1, last_offered_ms=100)
    assert pick("round_robin", [a, b]) is b


def test_pick_of_nobody_is_none():
    assert pick("longest_idle", []) is None
