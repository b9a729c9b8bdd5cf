"""``lf run route --plugin NAME`` and ``lf serve router``: any registered classifier behind the router.

The router service is the ``route`` kind's runner (registered with
``register_kind_runners``), so every classifier serves - built-in or a third-party
package that depends on ``lf-core`` alone. Its config is :class:`RouterOptions` and the
classifier's own options side by side (:func:`lf.composite.split_config` takes them
apart). Checks come first (keys, exposure, TLS, a free port, a readable registry), so a
bad setup fails in a second; then the classifier loads (the neural one takes a few
seconds) and the core's runner serves until Ctrl-C / SIGTERM.

The registry is ``registry`` from the config, else ``$LF_EXPERTS_FILE``, else
``~/.cache/largeforge/experts.yaml`` - the file ``lf expert add`` writes - created on the
first change if missing; ``redis://host:6379/0`` shares it between routers on several
machines (changes pushed to every router at once), an fsspec URL (``s3://...``) is read
and polled; ``registry: builtin`` uses the shipped experts, which have no endpoints: good
for ``/route`` only.
"""

from __future__ import annotations

from typing import Any

from lf.components import ComponentSpec, Events, RunResult
from lf.composite import split_config
from lf.errors import PluginError
from lf_router_hybrid.service.options import RouterOptions


def open_registry(registry: str | None) -> Any:
    """The :class:`lf.experts.ExpertManager` of ``registry`` (see the module docstring)."""
    from lf.experts import ExpertManager, default_registry
    from lf_router_hybrid.defaults import BUILTIN, default_experts

    if registry == BUILTIN:
        return ExpertManager(experts=default_experts())
    return ExpertManager(registry or default_registry())


def build_classifier(spec: ComponentSpec, config: Any, experts: list[Any], fallback_expert: str | None) -> Any:
    """The classifier of ``spec`` for ``experts``, built as :class:`lf.kinds.Classifier` says."""
    impl = spec.load()
    if not callable(getattr(impl, "from_config", None)):
        raise PluginError(
            f"The classifier '{spec.name}' ({spec.package}) has no from_config(config, experts, fallback_expert=...).",
            hint="Subclass lf.kinds.BaseClassifier, which provides it.",
        )
    return impl.from_config(config, experts, fallback_expert=fallback_expert)


def run_router(spec: ComponentSpec, config: Any, events: Events) -> RunResult:
    """Serve the router with ``spec``'s classifier until interrupted."""
    from lf.serve.runner import base_url, check_service_options, serve_app
    from lf_router_hybrid.service.app import create_router_app

    options, classifier_config = split_config(config, RouterOptions)
    auth = check_service_options(options)
    manager = open_registry(options.registry)
    events.message(f"lf router ({spec.name}): loading the classifier")
    experts = manager.list_experts(enabled_only=True)
    classifier = build_classifier(spec, classifier_config, experts, options.fallback_expert)
    _warn_about(manager, options, events)
    app = create_router_app(classifier, manager, options, classifier_name=spec.name)
    where = base_url(options)
    names = ", ".join(e.name for e in experts) or "none yet"
    registry = manager.location if manager.store else "built-in"
    events.message(
        f"lf router ({spec.name}) at {where}/v1 - experts: {names}; registry {registry} "
        f"(auth {'on' if auth else 'off'}; /route /generate /experts /health /ready /metrics /openapi.json)"
    )
    uptime = serve_app(app, options)
    return RunResult(summary=f"router on {where} stopped", metrics={"uptime_s": uptime})


def _warn_about(manager: Any, options: RouterOptions, events: Events) -> None:
    experts = manager.list_experts(enabled_only=True)
    where = manager.location if manager.store else "the built-in registry"
    if not experts:
        events.message(
            f"no expert in {where} yet: add one with `lf expert add NAME --endpoint URL` (picked up without restart)",
            "warning",
        )
    lacking = [e.name for e in experts if not e.endpoints]
    if lacking:
        events.message(f"experts without an endpoint (only /route works for them): {', '.join(lacking)}", "warning")
    if options.upstream.api_key and options.upstream.api_key_hosts is None and not any(e.endpoints for e in experts):
        events.message(
            "upstream.api_key is set but the registry has no endpoint yet: the key goes only to "
            "upstream.api_key_hosts, or to the registry's hosts at start - set api_key_hosts",
            "warning",
        )
