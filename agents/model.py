"""Agent profile and states; pure rules about skills and capacity."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from queues.model import SkillLevels

CHANNELS = ("chat", "sms", "whatsapp", "messenger", "email", "voice")
DEFAULT_CAPACITY: dict[str, int] = {"voice": 1, "chat": 3, "sms": 3, "whatsapp": 3, "messenger": 3, "email": 5}


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    NOT_READY = "not_ready"
    WRAP_UP = "wrap_up"


class AgentProfile(BaseModel):
    """What routing needs to know about an agent, loaded into Redis at login."""

    id: str
    org_id: str
    display_name: str
    skills: SkillLevels = Field(default_factory=dict)
    capacity: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    team: str | None = None

    def full_capacity(self) -> dict[str, int]:
        return {**DEFAULT_CAPACITY, **self.capacity}


def serves(skills: dict[str, int], queue_skills: dict[str, int]) -> bool:
    """An agent belongs to a queue's pool when it has every skill the queue names, at any level.

    Minimum proficiency is checked per decision, because escalation relaxes it over time.
    """
    return all(name in skills for name in queue_skills)


def proficiency_sum(skills: dict[str, int], queue_skills: dict[str, int]) -> int:
    return sum(skills.get(name, 0) for name in queue_skills)
