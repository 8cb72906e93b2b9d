"""Prometheus metrics of licensing, on the default registry that /metrics serves."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SEATS_IN_USE = Gauge(
    "switchboard_license_seats_in_use", "Concurrent license seats held, as last seen by this process", ["org"]
)
NAMED_AGENTS = Gauge(
    "switchboard_license_named_agents",
    "Distinct agents counted in the current named-license period, as last seen by this process",
    ["org"],
)
REFUSALS = Counter("switchboard_license_refusals_total", "Agent logins refused by licensing", ["org", "code"])
WRITES_DROPPED = Counter(
    "switchboard_license_writes_dropped_total",
    "Peaks or audit rows written behind the logins that were given up (PostgreSQL failing at shutdown,"
    " or failing for longer than the retained backlog allows)",
    ["kind"],
)
