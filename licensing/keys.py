"""Redis keys of the licensing package, all under the org prefix (and its ``{org}`` hash tag)."""

from __future__ import annotations

from switchboard import keys


def seats(org_id: str) -> str:
    """Hash agent_id -> claimed-at of the agents holding a concurrent seat."""
    return keys.seats(org_id)


def seat_peak(org_id: str, period_key: str) -> str:
    """Hash {count, at} of the highest seat count seen in one measurement period."""
    return keys.seat_peak(org_id, period_key)
