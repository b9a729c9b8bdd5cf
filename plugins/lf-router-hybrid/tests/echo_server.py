"""An ``lf`` inference server with the model-free echo backend, as its own process (tests kill it).

Run: python echo_server.py PORT [--model NAME] [--token-delay S]
"""

from __future__ import annotations

import argparse

import uvicorn

from lf.serve.app import create_app
from lf.serve.config import LimitsConfig
from lf.testing.echo_backend import EchoBackend, EchoConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--model", default="echo")
    parser.add_argument("--token-delay", type=float, default=0.0)
    args = parser.parse_args()
    limits = LimitsConfig(max_concurrent_requests=2048, max_queued_requests=8192)
    config = EchoConfig(model=args.model, token_delay_s=args.token_delay, port=args.port, limits=limits)
    app = create_app(EchoBackend(), config, backend_name="echo")
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, backlog=4096)


if __name__ == "__main__":
    main()
