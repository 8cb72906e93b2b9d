"""Routing strategies: which ready agent a queue prefers.

A strategy is a name and a score over an agent's live figures; lower scores win. The same
formulas run inside the Lua routing scripts (``score`` in routing/scripts.py), where they keep
each queue's ready set ordered; this module is their readable, testable statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AgentFigures:
    """What a strategy may look at: live load, capacity, idle time and proficiency in the queue."""

    id: str
    idle_since_ms: int
    load: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=dict)
    proficiency_sum: int = 0
    last_offered_ms: int = 0


def occupancy_permille(a: AgentFigures) -> int:
    """Open interactions weighted by each channel's capacity (a chat of 3 weighs 1/3)."""
    occ = sum(n / a.capacity[ch] for ch, n in a.load.items() if a.capacity.get(ch, 0) > 0)
    return min(int(occ * 1000 + 0.5), 99999)


def longest_idle(a: AgentFigures) -> int:
    return a.idle_since_ms


def most_skilled(a: AgentFigures) -> int:
    return (100 - min(a.proficiency_sum, 99)) * 10**13 + a.idle_since_ms


def least_occupied(a: AgentFigures) -> int:
    return occupancy_permille(a) * 10**10 + a.idle_since_ms // 1000


def round_robin(a: AgentFigures) -> int:
    return a.last_offered_ms


STRATEGIES: dict[str, Callable[[AgentFigures], int]] = {
    "longest_idle": longest_idle,
    "most_skilled": most_skilled,
    "least_occupied": least_occupied,
    "round_robin": round_robin,
}


def pick(strategy: str, agents: list[AgentFigures]) -> AgentFigures | None:
    """The agent a strategy picks among ready, eligible agents (ties: the first listed)."""
    if not agents:
        return None
    return min(agents, key=STRATEGIES[strategy])
