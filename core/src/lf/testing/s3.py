"""A real S3-compatible server for tests: moto's server on a free 127.0.0.1 port, in a subprocess.

::

    with running_s3_server() as s3:
        env = {**os.environ, **s3.env}          # endpoint and dummy credentials for s3fs / boto3
        s3.make_bucket("runs")
        subprocess.run(["lf", "run", "train", ..., "--set", "output_dir=s3://runs/sft"], env=env)

Needs ``moto[server]`` (a development dependency of this repository).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lf.testing.server import free_port, wait_for_port


@dataclass
class S3Server:
    """A running S3-compatible server: its endpoint and the environment that points clients at it."""

    endpoint: str
    env: dict[str, str] = field(default_factory=dict)

    def filesystem(self) -> Any:
        """An ``s3fs`` filesystem talking to this server."""
        import s3fs

        return s3fs.S3FileSystem(
            key=self.env["AWS_ACCESS_KEY_ID"],
            secret=self.env["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=self.endpoint,
            skip_instance_cache=True,
        )

    def make_bucket(self, name: str) -> None:
        """Create bucket ``name``."""
        self.filesystem().mkdir(name)


@contextlib.contextmanager
def running_s3_server(host: str = "127.0.0.1", timeout: float = 60.0) -> Iterator[S3Server]:
    """Start ``moto.server`` on a free port; stop it afterwards."""
    port = free_port(host)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(host, port, timeout)
        endpoint = f"http://{host}:{port}"
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        yield S3Server(endpoint=endpoint, env=env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
