"""Agent login and logout: which queues an agent serves, and loading its profile for routing."""

from __future__ import annotations

from agents.model import AgentProfile, proficiency_sum, serves
from queues.model import QueueConfig
from routing.router import Report, Router


def membership(profile: AgentProfile, queues: dict[str, QueueConfig]) -> tuple[list[str], dict[str, int]]:
    """The queues an agent's skills put it in, and its proficiency sum in each (for most_skilled)."""
    names = sorted(n for n, q in queues.items() if serves(profile.skills, q.skills))
    return names, {n: proficiency_sum(profile.skills, queues[n].skills) for n in names}


async def login(router: Router, profile: AgentProfile, queues: dict[str, QueueConfig]) -> Report:
    names, ps = membership(profile, queues)
    return await router.login(
        profile.org_id,
        profile.id,
        skills=profile.skills,
        capacity=profile.full_capacity(),
        queues=names,
        proficiency=ps,
        display_name=profile.display_name,
    )
