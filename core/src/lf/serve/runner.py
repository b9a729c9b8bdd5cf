"""Running an ``lf`` HTTP service: the checks before, uvicorn during, the summary after.

:func:`check_service_options` runs first (key lengths, exposure beyond loopback without a
key, TLS files, a free port), so a bad setup fails in a second with a clear message
instead of after a model load. :func:`serve_app` then runs any service's app with uvicorn
(TLS when configured; uvloop and httptools when installed) until Ctrl-C / SIGTERM, which
stop it gracefully (running requests get ``graceful_shutdown_s``).

``lf run serve --plugin NAME`` is :func:`run_server`: the model loads in the background
while ``/ready`` answers 503; if loading fails, the server stops and the command fails.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lf.components import ComponentSpec, Events, RunResult
from lf.errors import ConfigError, DependencyMissingError, RunError
from lf.serve.config import ServeConfig
from lf.serve.options import ServerOptions


def require_serve_extra() -> None:
    """Fail clearly when the serving dependencies (``lf-core[serve]``) are missing."""
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


def _check_tls(options: ServerOptions) -> None:
    if bool(options.ssl_certfile) != bool(options.ssl_keyfile):
        raise ConfigError("TLS needs both ssl_certfile and ssl_keyfile.", hint="Set both, or neither for plain HTTP.")
    for field in ("ssl_certfile", "ssl_keyfile"):
        value = getattr(options, field)
        if value and not Path(value).expanduser().is_file():
            raise ConfigError(f"{field} {value} is not a readable file.", hint="Point it at a PEM file.")


def check_service_options(options: ServerOptions) -> bool:
    """Every check a service's options need before it starts; returns whether auth is on."""
    from lf.serve.auth import check_exposure, configured_admin_keys, configured_keys

    require_serve_extra()
    keys = configured_keys(options.api_keys)
    admin = configured_admin_keys(options.admin_keys)
    check_exposure(options.host, keys + admin, options.allow_unauthenticated)
    _check_tls(options)
    check_port(options.host, options.port)
    return bool(keys or admin)


def base_url(options: ServerOptions) -> str:
    """``http(s)://host:port`` of a service with these options."""
    scheme = "https" if options.ssl_certfile else "http"
    host = f"[{options.host}]" if ":" in options.host else options.host
    return f"{scheme}://{host}:{options.port}"


def fast_io() -> dict[str, str]:
    """Uvloop and httptools when installed: the hot path of a busy service."""
    out = {}
    if importlib.util.find_spec("uvloop") is not None:
        out["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        out["http"] = "httptools"
    return out


def serve_app(app: Any, options: ServerOptions, *, on_server: Callable[[Any], None] | None = None) -> float:
    """Run ``app`` with uvicorn until interrupted; returns the seconds it served.

    ``on_server`` receives the ``uvicorn.Server`` before it starts (to stop it from a callback).
    """
    import uvicorn

    from lf.logs import setup_logging

    setup_logging(options.log_level.upper(), fmt=options.log_format)
    io = fast_io()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=options.host,
            port=options.port,
            log_level=logging.WARNING,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=max(1, round(options.graceful_shutdown_s)),
            backlog=4096,
            loop=io.get("loop", "auto"),
            http=io.get("http", "auto"),
            ssl_certfile=options.ssl_certfile,
            ssl_keyfile=options.ssl_keyfile,
        )
    )
    if on_server is not None:
        on_server(server)
    started = time.monotonic()
    server.run()
    if not server.started:
        raise RunError(f"The service could not start on {base_url(options)}.")
    return round(time.monotonic() - started, 3)


def resolve_served_model(config: ServeConfig, events: Events | None = None) -> ServeConfig:
    """``model: tiny`` / ``smollm2`` (any name :func:`lf.models.resolve_model` knows) for every backend.

    The model becomes the directory the shorthand stands for (built or converted once);
    clients keep calling it by the shorthand unless ``served_model_name`` says otherwise.
    """
    import msgspec

    from lf.models import SHORTHANDS, resolve_model

    if config.model not in SHORTHANDS or Path(config.model).exists():
        return config
    return msgspec.structs.replace(
        config,
        model=resolve_model(config.model, events=events),
        served_model_name=config.served_model_name or config.model,
    )


def run_server(spec: ComponentSpec, config: Any, events: Events) -> RunResult:
    """Serve ``spec``'s backend with ``config`` until interrupted (the runner of the ``serve`` kind)."""
    if not isinstance(config, ServeConfig):
        raise ConfigError(f"The config of the serve component '{spec.name}' must extend lf.serve.ServeConfig.")
    auth = check_service_options(config)
    config = resolve_served_model(config, events)
    impl = spec.load()
    backend = impl() if isinstance(impl, type) else impl
    validate = getattr(backend, "validate", None)
    if callable(validate):
        validate(config)
    from lf.serve.app import create_app

    app = create_app(backend, config, backend_name=spec.name)
    service = app.state["lf_service"]
    where = base_url(config)
    service.on_loaded = lambda: events.message(
        f"ready: {', '.join(c.id for c in service.model_list().data)} "
        f"(auth {'on' if auth else 'off'}; /health /ready /metrics /openapi.json)"
    )

    def stop_on_load_failure(server: Any) -> None:
        service.on_load_failed = lambda: setattr(server, "should_exit", True)

    events.message(f"lf serve ({spec.name}): loading {config.model}; OpenAI API at {where}/v1")
    uptime = serve_app(app, config, on_server=stop_on_load_failure)
    if service.load_error:
        from lf.serve.select import BackendStartError

        raise BackendStartError(
            f"The {spec.name} backend failed to load the model {config.model}: {service.load_error}",
            hint=f"Check the model and the options of the {spec.name} backend (`lf config show serve {spec.name}`).",
        )
    return RunResult(summary=f"server on {where} stopped", metrics={"uptime_s": uptime})
