"""Real `switchboard serve` processes for multi-node tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from harness import TEST_SECRET, free_port

ROOT = Path(__file__).resolve().parent.parent


class ServerProcess:
    def __init__(self, database_url: str, redis_url: str, node_id: str, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SWITCHBOARD_DATABASE_URL": database_url,
            "SWITCHBOARD_REDIS_URL": redis_url,
            "SWITCHBOARD_PORT": str(self.port),
            "SWITCHBOARD_SECRET_KEY": TEST_SECRET,
            "SWITCHBOARD_NODE_ID": node_id,
            "SWITCHBOARD_LOG_LEVEL": "WARNING",
            "SWITCHBOARD_SEAT_GRACE_S": "2",
            "SWITCHBOARD_TIMER_POLL_MS": "50",
            "SWITCHBOARD_LOGIN_RATE_PER_MIN": "100000",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = ROOT / "test-artifacts" / f"server-{node_id}.log"

    async def start(self) -> None:
        self.log.parent.mkdir(exist_ok=True)
        out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "switchboard.cli", "serve"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        async with aiohttp.ClientSession() as s:
            for _ in range(200):
                try:
                    async with s.get(self.base + "/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
