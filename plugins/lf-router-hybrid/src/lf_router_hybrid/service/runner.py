"""``lf run route --plugin NAME`` and ``lf serve router``: build the classifier and serve the router.

Checks come first (key lengths, exposure without keys, a free port, a readable
registry), so a bad setup fails in a second; then the classifier loads (the neural one
takes a few seconds) and uvicorn serves until Ctrl-C / SIGTERM (running requests get
``graceful_shutdown_s``).

The registry is ``registry`` from the config, else ``$LF_EXPERTS_FILE``, else
``~/.cache/largeforge/experts.yaml`` - the file ``lf expert add`` writes - created on the
first change if missing (``registry: builtin`` uses the shipped experts, which have no
endpoints: good for ``/route`` only).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lf.components import ComponentSpec, Events, RunResult
from lf.errors import ConfigError, RunError


def open_registry(registry: str | None) -> Any:
    """The :class:`lf.experts.ExpertManager` of ``registry`` (see the module docstring)."""
    from lf.experts import ExpertManager, default_registry_path
    from lf_router_hybrid.defaults import BUILTIN, default_experts

    if registry == BUILTIN:
        return ExpertManager(experts=default_experts())
    path = Path(registry).expanduser() if registry else default_registry_path()
    if path.exists() and not path.is_file():
        raise ConfigError(f"The expert registry {path} is not a file.", hint="Point registry at a YAML file.")
    return ExpertManager(path)


def build_router(spec: ComponentSpec, config: Any) -> tuple[Any, Any, Any]:
    """The classifier, the registry and the service options a router config describes."""
    from lf_router_hybrid.config import service_options

    manager = open_registry(getattr(config, "registry", None))
    impl = spec.load()
    experts = manager.list_experts(enabled_only=True)
    if hasattr(impl, "from_config"):
        classifier = impl.from_config(config, source=experts)
    else:  # a plugin's BaseClassifier without options of its own
        classifier = impl.from_experts(experts, fallback_expert=getattr(config, "fallback_expert", None))
    return classifier, manager, service_options(config)


def serve_plugin_classifier(
    spec: ComponentSpec,
    *,
    config_file: str | None,
    overrides: list[str],
    flags: dict[str, Any],
    dry_run: bool = False,
) -> None:
    """``lf serve router --classifier NAME`` for a plugin's classifier that has no runner of its own.

    Its options are the router's (:func:`~lf_router_hybrid.config.plugin_router_config`):
    the classifier is built with ``from_experts(experts, fallback_expert=...)``.
    """
    from lf.cli.console import RichEvents, console, interruptible, print_result
    from lf.config import build_config, to_yaml
    from lf_router_hybrid.config import plugin_router_config

    config = build_config(
        plugin_router_config(), file=config_file, overrides=overrides, env_component=spec.name, flags=flags
    )
    if dry_run:
        console().print(to_yaml(config), markup=False, highlight=False)
        return
    with interruptible(), RichEvents() as events:
        result = run_router(spec, config, events)
    print_result(result)


def run_router(spec: ComponentSpec, config: Any, events: Events) -> RunResult:
    """Serve the router with ``spec``'s classifier until interrupted."""
    from lf.serve.auth import check_exposure, validate_keys
    from lf.serve.runner import _require_serve_extra, check_port
    from lf_router_hybrid.config import service_options
    from lf_router_hybrid.service.state import router_keys

    _require_serve_extra()
    options = service_options(config)
    keys = router_keys(options)
    validate_keys(options.admin_keys, "admin_keys")
    check_exposure(options.host, keys + list(options.admin_keys), options.allow_unauthenticated)
    check_port(options.host, options.port)
    events.message(f"lf router ({spec.name}): loading the classifier")
    classifier, manager, options = build_router(spec, config)
    _warn_about(manager, events)
    return _serve(spec, classifier, manager, options, events, auth=bool(keys or options.admin_keys))


def _warn_about(manager: Any, events: Events) -> None:
    experts = manager.list_experts(enabled_only=True)
    where = manager.config_path or "the built-in registry"
    if not experts:
        events.message(
            f"no expert in {where} yet: add one with `lf expert add NAME --endpoint URL` (picked up without restart)",
            "warning",
        )
    lacking = [e.name for e in experts if not e.endpoints]
    if lacking:
        events.message(f"experts without an endpoint (only /route works for them): {', '.join(lacking)}", "warning")


def _serve(
    spec: ComponentSpec, classifier: Any, manager: Any, options: Any, events: Events, *, auth: bool
) -> RunResult:
    import time

    import uvicorn

    from lf.logs import setup_logging
    from lf_router_hybrid.service.app import create_router_app

    setup_logging(options.log_level.upper(), fmt=options.log_format)
    app = create_router_app(classifier, manager, options, classifier_name=spec.name)
    fast = _fast_io()
    uv_config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level=logging.WARNING,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(options.graceful_shutdown_s)),
        backlog=4096,
        loop=fast.get("loop", "auto"),
        http=fast.get("http", "auto"),
    )
    server = uvicorn.Server(uv_config)
    where = (
        f"http://{options.host}:{options.port}"
        if ":" not in options.host
        else f"http://[{options.host}]:{options.port}"
    )
    names = ", ".join(e.name for e in manager.list_experts(enabled_only=True)) or "none yet"
    events.message(
        f"lf router ({spec.name}) at {where}/v1 - experts: {names}; registry {manager.config_path or 'built-in'} "
        f"(auth {'on' if auth else 'off'}; /route /generate /experts /health /ready /metrics)"
    )
    started = time.monotonic()
    server.run()
    if not server.started:
        raise RunError(f"The router could not start on {where}.")
    return RunResult(summary=f"router on {where} stopped", metrics={"uptime_s": round(time.monotonic() - started, 3)})


def _fast_io() -> dict[str, str]:
    """Uvloop and httptools when installed (they come with lf-router-hybrid): the router's hot path."""
    import importlib.util

    out = {}
    if importlib.util.find_spec("uvloop") is not None:
        out["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        out["http"] = "httptools"
    return out
