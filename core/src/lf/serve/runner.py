"""``lf run serve --plugin NAME``: build the app around the backend and run it with uvicorn.

Checks come first (key lengths, exposure without keys, a free port, the backend's own
``validate(config)`` when it has one), so a bad setup fails in a second with a clear
message instead of after a model load. The model then loads in the background while
``/ready`` answers 503; if loading fails, the server stops and the command fails.
Ctrl-C / SIGTERM stop it gracefully (running requests get ``graceful_shutdown_s``).
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from lf.components import ComponentSpec, Events, RunResult
from lf.errors import ConfigError, DependencyMissingError, RunError
from lf.serve.config import ServeConfig


def _require_serve_extra() -> None:
    import importlib.util

    missing = [m for m in ("litestar", "uvicorn", "prometheus_client", "anyio") if importlib.util.find_spec(m) is None]
    if missing:
        raise DependencyMissingError(
            f"Serving needs {', '.join(missing)}, which is not installed.", hint="pip install 'lf-core[serve]'"
        )


def check_port(host: str, port: int) -> None:
    """Fail early and clearly when ``host:port`` cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
                hint="Choose another port with --set port=N (0 picks a free one), or stop what uses it.",
            ) from None


def run_server(spec: ComponentSpec, config: Any, events: Events) -> RunResult:
    """Serve ``spec``'s backend with ``config`` until interrupted."""
    if not isinstance(config, ServeConfig):
        raise ConfigError(f"The config of the serve component '{spec.name}' must extend lf.serve.ServeConfig.")
    _require_serve_extra()
    from lf.serve.auth import check_exposure, configured_keys, validate_keys

    keys = configured_keys(config.api_keys)
    validate_keys(config.admin_keys, "admin_keys")
    check_exposure(config.host, keys + list(config.admin_keys), config.allow_unauthenticated)
    check_port(config.host, config.port)
    impl = spec.load()
    backend = impl() if isinstance(impl, type) else impl
    validate = getattr(backend, "validate", None)
    if callable(validate):
        validate(config)
    return _serve(spec, backend, config, events, auth=bool(keys or config.admin_keys))


def _serve(spec: ComponentSpec, backend: Any, config: ServeConfig, events: Events, *, auth: bool) -> RunResult:
    import uvicorn

    from lf.logs import setup_logging
    from lf.serve.app import create_app

    setup_logging(config.log_level.upper(), fmt=config.log_format)
    app = create_app(backend, config, backend_name=spec.name)
    server_state = app.state["lf_server"]
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=logging.WARNING,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(config.graceful_shutdown_s)),
    )
    server = uvicorn.Server(uv_config)
    server_state.on_load_failed = lambda: setattr(server, "should_exit", True)
    server_state.on_loaded = lambda: events.message(
        f"ready: {', '.join(c.id for c in server_state.model_list().data)} "
        f"(auth {'on' if auth else 'off'}; /health /ready /metrics)"
    )
    where = f"http://{config.host}:{config.port}" if ":" not in config.host else f"http://[{config.host}]:{config.port}"
    events.message(f"lf serve ({spec.name}): loading {config.model}; OpenAI API at {where}/v1")
    server.run()
    if server_state.load_error:
        raise RunError(f"The {spec.name} backend failed to load the model: {server_state.load_error}")
    return RunResult(summary=f"server on {where} stopped", metrics={"uptime_s": server_state.health().uptime})
