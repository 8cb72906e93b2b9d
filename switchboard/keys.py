"""Every Redis key, built in one place from org and ids.

Keys of one organisation share the hash tag ``{org}`` so a Redis Cluster keeps them in one slot
and the Lua scripts, which touch several keys of one org, stay legal there.
"""

from __future__ import annotations

PREFIX = "sb"


def org(org_id: str) -> str:
    """Prefix of every key of one org; Lua scripts build sub-keys from it."""
    return f"{PREFIX}:{{{org_id}}}:"


def queue(org_id: str, name: str) -> str:
    return f"{org(org_id)}q:{name}"


def interaction(org_id: str, interaction_id: str) -> str:
    return f"{org(org_id)}i:{interaction_id}"


def agent(org_id: str, agent_id: str) -> str:
    return f"{org(org_id)}a:{agent_id}"


def ready(org_id: str, queue_name: str) -> str:
    return f"{org(org_id)}ready:{queue_name}"


def queue_config(org_id: str, queue_name: str) -> str:
    return f"{org(org_id)}qcfg:{queue_name}"


def timers(org_id: str) -> str:
    return f"{org(org_id)}timers"


def agents_online(org_id: str) -> str:
    return f"{org(org_id)}online"


def seats(org_id: str) -> str:
    return f"{org(org_id)}seats"


def seat_peak(org_id: str, period: str) -> str:
    return f"{org(org_id)}seatpeak:{period}"


def agent_sockets(org_id: str, agent_id: str) -> str:
    return f"{org(org_id)}sockets:{agent_id}"


def chat_sockets(org_id: str, interaction_id: str) -> str:
    """Hash node id → web-chat widget sockets of that conversation held by that node."""
    return f"{org(org_id)}chatsock:{interaction_id}"


def rate(org_id: str, subject: str, window: int) -> str:
    return f"{org(org_id)}rate:{subject}:{window}"


def config_version(org_id: str) -> str:
    return f"{org(org_id)}cfgver"


def revoked_tokens() -> str:
    return f"{PREFIX}:revoked"


def token_cutoffs() -> str:
    """user id → epoch seconds before which that user's tokens are refused. The hash tag is the
    revoked set's whole name, so a Redis Cluster keeps both in one slot and one script reads both."""
    return f"{{{revoked_tokens()}}}:cutoffs"


def user_sockets(org_id: str, user_id: str) -> str:
    """Set of ``namespace sid`` a user connected with (web/sessions.py ends them on deactivation)."""
    return f"{org(org_id)}usersockets:{user_id}"


def active_orgs() -> str:
    """Orgs with live routing work; timer pollers walk this set (routing/active_orgs.py keeps it small)."""
    return f"{PREFIX}:orgs"


def idle_since(org_id: str) -> str:
    """When (Redis time, ms) the org was first seen with no timer and no agent online, since it last had one."""
    return f"{org(org_id)}idle"


def sweep_lock(org_id: str) -> str:
    """Taken for a second by the process that retries the org's queue heads."""
    return f"{org(org_id)}sweeplock"


def node_inbox(node_id: str) -> str:
    return f"{PREFIX}:node:{node_id}"


def node_alive(node_id: str) -> str:
    return f"{PREFIX}:alive:{node_id}"


def reconcile_lock() -> str:
    return f"{PREFIX}:reconcile-lock"


def floor_metrics_lease(org_id: str) -> str:
    """Which node publishes the org's floor gauges (queue depth, agents by state) this round."""
    return f"{org(org_id)}metrics-lease"


def report_spool(org_id: str) -> str:
    """Routing reports of the org waiting for PostgreSQL (a list, oldest first)."""
    return f"{org(org_id)}report-spool"


def report_spool_refused(org_id: str) -> str:
    """Spooled entries PostgreSQL refused to write, by entry id (kept for an admin to retry or discard)."""
    return f"{org(org_id)}report-spool:refused"


def spooled_orgs() -> str:
    """Orgs whose report spool may hold entries: what the reconcilers drain each tick."""
    return f"{PREFIX}:spooled-orgs"


def inbound_spool(org_id: str) -> str:
    """Verified channel webhooks PostgreSQL could not take, oldest first (channels/inbound_spool.py)."""
    return f"{org(org_id)}inbound-spool"


def inbound_spool_refused(org_id: str) -> str:
    """Spooled webhooks that failed as data when processed, by entry id (for an admin to retry or discard)."""
    return f"{org(org_id)}inbound-spool:refused"


def inbound_spooled_orgs() -> str:
    """Orgs whose inbound spool may hold webhooks: what the reconcilers drain each tick."""
    return f"{PREFIX}:inbound-spooled-orgs"
