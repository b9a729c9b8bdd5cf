"""A real ``redis-server`` for tests, on a free 127.0.0.1 port, with its data in a temporary folder.

``redis-server`` comes from the Debian package of that name (``make install`` installs it
where it can; ``apt-get install redis-server`` otherwise) and the client from ``lf-core[redis]``.
The pytest fixture ``redis_server`` (:mod:`lf.testing.pytest_plugin`) skips, saying which is
missing, where either is absent. Data is kept in an append-only file synced at every write,
so :meth:`RedisServer.kill` (SIGKILL, like a crash) and :meth:`RedisServer.start` bring the
same data back, as a Redis run with ``appendonly yes`` does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from lf.testing.server import free_port, wait_for_port


def missing_reason() -> str | None:
    """Why a Redis test cannot run here (None when it can)."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (Debian: apt-get install redis-server; `make install` tries it)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "the redis client is not installed (pip install 'lf-core[redis]')"
    return None


class RedisServer:
    """One ``redis-server`` process: :attr:`url` is ``redis://127.0.0.1:PORT/0``."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> RedisServer:
        """Start it (again, on the same port and data) and wait until it answers PING."""
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
            self._wait_for_pong(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _wait_for_pong(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on port {self.port} did not answer PING")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: Redis goes away without a goodbye (its data stays in the append-only file)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop it if it runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
