"""Run an ASGI app (an ``lf`` server, a router) on a free 127.0.0.1 port for real HTTP tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Block until something accepts connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def wait_ready(url: str, *, timeout: float = 300.0, process: Any = None, interval: float = 0.1) -> None:
    """Block until ``GET {url}/ready`` answers 200 (an ``lf`` server or router has loaded).

    ``process`` (a ``subprocess.Popen``) is watched too: if it exits first, a
    :class:`RuntimeError` says so at once instead of waiting out ``timeout``.
    """
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server process exited with {process.returncode} before {url} was ready")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        time.sleep(interval)
    raise TimeoutError(f"{url} was not ready after {timeout:.0f}s")


@contextlib.contextmanager
def running_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 30.0,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yields its base URL (``https://`` with a certificate).

    Example::

        with running_server(create_app(...)) as url:
            openai.OpenAI(base_url=f"{url}/v1", api_key="x").models.list()
    """
    import uvicorn

    port = port or free_port(host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"lf-test-server-{port}", daemon=True)
    thread.start()
    try:
        wait_for_port(host, port, timeout)
        yield f"{'https' if ssl_certfile else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)
