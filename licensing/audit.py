"""The license audit trail: seat claims and named counts written behind, refusals and releases at once.

Admins read the trail to see who took a seat and who was turned away. A seat claim or named count is
already decided when its row is written (atomically in Redis; durably in ``license_named_agents``,
whose ``first_login_at`` records the count on its own), so its row follows within a second, in one
batch with the other logins of that second. A normal shutdown writes it (``LicenseService.close``);
a kill -9 loses at most that second's claim rows, never a cap decision. A refusal or release leaves
no other trace, so it is written before its caller goes on, after whatever was pending, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

_INSERT = (
    "INSERT INTO license_audit (org_id, at, agent_id, action, code, data) VALUES ($1, $2, $3, $4, $5, $6)"
)


@dataclass(frozen=True)
class AuditEntry:
    org_id: str
    at: datetime
    agent_id: str | None
    action: str
    code: str | None
    data: dict[str, Any]

    def row(self) -> tuple[Any, ...]:
        return (self.org_id, self.at, self.agent_id, self.action, self.code, self.data)


async def insert(conn: asyncpg.Pool | asyncpg.Connection, entries: list[AuditEntry]) -> None:
    await conn.executemany(_INSERT, [e.row() for e in entries])
