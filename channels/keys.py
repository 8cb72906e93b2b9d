"""Redis keys of the channels wiring, built on the org prefix (and its cluster hash tag)."""

from __future__ import annotations

from switchboard import keys


def inbound_lock(org_id: str, identity_type: str, value: str) -> str:
    """Held while one customer's message is threaded, so two at once cannot open two conversations."""
    return f"{keys.org(org_id)}inlock:{identity_type}:{value}"


def agent_event_state(org_id: str, agent_id: str) -> str:
    """The agent state last announced to integrators, so load-only changes announce nothing."""
    return f"{keys.org(org_id)}evstate:{agent_id}"


def purge_lock() -> str:
    """One process per deployment runs the retention purge at a time."""
    return f"{keys.PREFIX}:purge-lock"
