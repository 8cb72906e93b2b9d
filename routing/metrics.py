"""Prometheus metrics of the routing engine."""

from prometheus_client import Counter, Gauge, Histogram

OFFERS = Counter("switchboard_offers_total", "Offer outcomes", ["outcome"])
DECISION_SECONDS = Histogram(
    "switchboard_routing_decision_seconds",
    "Time of one routing script (decision + atomic claim) as seen by the caller",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
INTAKE_TO_OFFER = Histogram(
    "switchboard_intake_to_offer_seconds",
    "From intake to the first offer of a new interaction",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120),
)
INTERACTIONS_CREATED = Counter(
    "switchboard_interactions_created_total", "Interactions accepted by intake", ["org", "channel"]
)
RECORD_BATCH = Histogram(
    "switchboard_record_batch_reports",
    "Routing reports written to PostgreSQL in one transaction (group commit)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
REPORTS_SPOOLED = Counter(
    "switchboard_reports_spooled_total",
    "Routing reports that missed PostgreSQL: spooled in Redis, replayed from there, dropped (spool"
    " full, or Redis down too), or refused on replay (entries set aside in the org's dead-letter hash)",
    ["outcome"],
)
# Set each reconcile tick, before the drain: a backlog that grows tick after tick is PostgreSQL
# still down (or refusing); every node reports the same figure, so aggregate with max().
SPOOL_WAITING = Gauge("switchboard_spool_waiting", "Entries waiting in Redis for PostgreSQL, by spool", ["spool"])
