"""Real `switchboard serve` processes for multi-node tests (the launcher is switchboard.process)."""

from __future__ import annotations

from pathlib import Path

from harness import TEST_SECRET

from switchboard import process

ROOT = Path(__file__).resolve().parent.parent


class ServerProcess(process.ServerProcess):
    """A server on a free port with the test settings, logging to test-artifacts/server-<node_id>.log."""

    def __init__(self, database_url: str, redis_url: str, node_id: str, **env: str) -> None:
        super().__init__(
            {
                "SWITCHBOARD_DATABASE_URL": database_url,
                "SWITCHBOARD_REDIS_URL": redis_url,
                "SWITCHBOARD_SECRET_KEY": TEST_SECRET,
                "SWITCHBOARD_NODE_ID": node_id,
                "SWITCHBOARD_LOG_LEVEL": "WARNING",
                "SWITCHBOARD_SEAT_GRACE_S": "2",
                "SWITCHBOARD_TIMER_POLL_MS": "50",
                "SWITCHBOARD_LOGIN_RATE_PER_MIN": "100000",
                **env,
            },
            ROOT / "test-artifacts" / f"server-{node_id}.log",
        )
