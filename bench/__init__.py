"""Benchmarks (`make bench`): timings live here, never in tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(base: str, seconds: float = 120.0) -> None:
    """Until the server at `base` answers /healthz with 200 (or the time is up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


@contextmanager
def serving(env: dict[str, str], stderr: IO[str] | None = None
            ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real `klokot-bot serve` on a free port, once it answers /healthz; stopped
    with SIGTERM (killed if it does not stop) when the block ends."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
                              env=env, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base)
        yield base, server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
