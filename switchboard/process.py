"""A `switchboard serve` child process, as multi-node tests and the benchmark launch them.

One launcher so that both start servers the same way: the environment, a log file the child
writes, readiness judged by /readyz, and an end by SIGTERM (SIGKILL when that is ignored).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import aiohttp

CHECKOUT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One `python -m switchboard.cli serve` child on 127.0.0.1; `env` overlays this process's environment."""

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        *,
        port: int | None = None,
        ready_timeout_s: float = 20.0,
        stop_timeout_s: float = 10.0,
        preexec_fn: Callable[[], object] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # callers may still edit env (and port/base) before start(), e.g. to restart on the same port
        self.env = {**os.environ, "SWITCHBOARD_PORT": str(self.port), **env}
        self.log = log
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.preexec_fn = preexec_fn
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    async def start(self) -> None:
        """Launch the child and return once /readyz answers 200; a child that never does is stopped."""
        self.spawn()
        try:
            await self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def spawn(self) -> None:
        """Launch the child without waiting for it (Popen returns at once)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "switchboard.cli", "serve"],
                env=self.env,
                cwd=CHECKOUT,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=self.preexec_fn,
            )

    async def wait_ready(self) -> None:
        proc = self.proc
        assert proc is not None, "not started"
        deadline = time.monotonic() + self.ready_timeout_s
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                try:
                    async with s.get(self.base + "/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.05)
        raise RuntimeError(f"server did not become ready in {self.ready_timeout_s:.0f} s (log: {self.log})")

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if the child has not ended within stop_timeout_s."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """kill -9: no clean-up of any kind (what the fault tests want)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
