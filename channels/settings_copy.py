"""Each process's copy of every org's channel settings, so a webhook can still be verified (and
kept in the inbound spool) while PostgreSQL is down, on any node, not only one that happened to
serve that channel since it started.

Read whole at start, then each reconcile tick only the rows changed since (every change bumps
``updated_at``; channels are suspended, never deleted), and refreshed by every webhook that reads
its own row. The copy holds provider secrets in process memory, as the rows do in PostgreSQL; it is
not written anywhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channels.config import ChannelConfig
from channels.model import Db

# ``updated_at`` is the writing transaction's start: one that commits later than our read can carry
# an earlier time, so each read goes back this far before the newest change it has seen.
OVERLAP = timedelta(seconds=60)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ChannelSettingsCopy:
    def __init__(self) -> None:
        self._configs: dict[tuple[str, str], ChannelConfig] = {}
        self._newest = EPOCH

    def get(self, org_id: str, channel: str) -> ChannelConfig | None:
        return self._configs.get((org_id, channel))

    def remember(self, config: ChannelConfig) -> None:
        self._configs[(config.org_id, config.channel)] = config

    def forget(self, org_id: str, channel: str) -> None:
        self._configs.pop((org_id, channel), None)

    async def refresh(self, db: Db) -> int:
        """Read the rows changed since the last read (all of them the first time); returns how many."""
        rows = await db.fetch("SELECT * FROM channel_configs WHERE updated_at >= $1", self._newest - OVERLAP)
        for r in rows:
            self.remember(ChannelConfig.model_validate(dict(r)))
            self._newest = max(self._newest, r["updated_at"])
        return len(rows)
