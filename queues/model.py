"""Interactions and queue configuration: the contract's names, and ordering inside a queue."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

ChannelName = Literal["chat", "sms", "whatsapp", "messenger", "email", "voice"]
IdentityType = Literal["phone", "email", "whatsapp", "messenger", "webchat"]
StrategyName = Literal["longest_idle", "most_skilled", "least_occupied", "round_robin"]
NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,62}$"


def _levels_1_to_10(v: dict[str, int]) -> dict[str, int]:
    for name, level in v.items():
        if not 1 <= level <= 10:
            raise ValueError(f"proficiency of {name!r} must be 1..10")
    return v


# Skill name → proficiency (or minimum proficiency), each 1..10.
SkillLevels = Annotated[dict[str, int], AfterValidator(_levels_1_to_10)]

# Priority dominates the score; the enqueue time in ms (< 10**13 until the year 2286) orders within it.
PRIORITY_WEIGHT = 10**13


class InteractionState(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    TRANSFERRED = "transferred"
    FAILED = "failed"


OPEN_STATES = frozenset({"queued", "offered", "connected", "wrap_up"})


def queue_score(priority: int, enqueued_at_ms: int) -> int:
    """Sorted-set score: lower is served first — higher priority, then older."""
    return (10 - priority) * PRIORITY_WEIGHT + enqueued_at_ms


class EscalationStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_s: int = Field(ge=1)
    min_proficiency: SkillLevels | None = None
    overflow_queue: str | None = Field(default=None, pattern=NAME_PATTERN)

    @model_validator(mode="after")
    def _one_action(self) -> EscalationStep:
        if (self.min_proficiency is None) == (self.overflow_queue is None):
            raise ValueError("an escalation step sets exactly one of min_proficiency or overflow_queue")
        return self


class QueueConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN)
    channels: list[ChannelName] = Field(min_length=1)
    skills: SkillLevels = Field(default_factory=dict)
    strategy: StrategyName = "longest_idle"
    service_level_s: int = Field(default=20, ge=1, le=86400)
    offer_timeout_s: int = Field(default=20, ge=1, le=3600)
    wrap_up_s: int = Field(default=30, ge=0, le=86400)
    escalation: list[EscalationStep] = Field(default_factory=list)
    max_wait_s: int | None = Field(default=None, ge=1)
    last_agent_window_s: int = Field(default=0, ge=0)

    @field_validator("escalation")
    @classmethod
    def _ordered(cls, v: list[EscalationStep]) -> list[EscalationStep]:
        if [s.after_s for s in v] != sorted(s.after_s for s in v):
            raise ValueError("escalation steps must be ordered by after_s")
        return v


def required_skills(queue_skills: dict[str, int], extra: dict[str, int]) -> dict[str, int]:
    """An interaction needs the queue's skills plus its own, at the higher of the two minimums."""
    out = dict(queue_skills)
    for name, level in extra.items():
        out[name] = max(level, out.get(name, 0))
    return out


class Identity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: IdentityType
    value: str = Field(min_length=1, max_length=320)


class CustomerRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: Identity
    name: str | None = Field(default=None, max_length=200)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)


class IntakeRequest(BaseModel):
    """Body of POST /api/v1/interactions."""

    model_config = ConfigDict(extra="forbid")
    channel: ChannelName
    queue: str = Field(pattern=NAME_PATTERN)
    customer: CustomerRef
    priority: int | None = Field(default=None, ge=0, le=10)
    skills: SkillLevels = Field(default_factory=dict)
    subject: str | None = Field(default=None, max_length=500)
    message: MessageIn | None = None
