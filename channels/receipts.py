"""Delivery receipts (``StatusUpdate``) applied to the ``messages`` rows they describe.

Providers deliver receipts late and out of order, so a status only ever moves forward:
sent → failed → delivered → read (a late 'delivered' may still correct an early 'failed').
"""

from __future__ import annotations

from channels.model import Db, StatusUpdate
from switchboard.clock import to_datetime

# Position in this array is the status's rank; NULL/unknown statuses rank 0.
_RANK_SQL = "COALESCE(array_position(ARRAY['sent','failed','delivered','read'], {col}), 0)"


async def apply_status(db: Db, org_id: str, update: StatusUpdate) -> int:
    """Move the matching messages forward to ``update.status``; returns how many rows changed."""
    newer = f"{_RANK_SQL.format(col='m.status')} < {_RANK_SQL.format(col='$3::text')}"
    if update.provider_message_id is not None:
        result = await db.execute(
            f"UPDATE messages m SET status = $3 WHERE m.org_id = $1 AND m.provider_id = $2 AND {newer}",
            org_id,
            update.provider_message_id,
            update.status,
        )
    elif update.recipient_id is not None and update.watermark is not None:
        # Messenger: everything our side sent to this person up to the watermark.
        result = await db.execute(
            "UPDATE messages m SET status = $3 FROM interactions i, customer_identities ci"
            " WHERE ci.org_id = $1 AND ci.type = 'messenger' AND ci.value = $2"
            " AND i.org_id = $1 AND i.customer_id = ci.customer_id AND i.channel = 'messenger'"
            " AND m.interaction_id = i.id AND m.sender <> 'customer' AND m.provider_id IS NOT NULL"
            f" AND m.at <= $4 AND {newer}",
            org_id,
            update.recipient_id,
            update.status,
            to_datetime(update.watermark),
        )
    else:
        return 0
    return int(result.rsplit(" ", 1)[-1])
