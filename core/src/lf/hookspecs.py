"""The plugin contract: every hook a LargeForge plugin can implement.

A plugin is a module (or package) listed under the ``lf`` entry-point group::

    [project.entry-points.lf]
    trainer-kto = "lf_trainer_kto"

that defines functions decorated with :data:`hookimpl` and named exactly like the hooks
below. ``lf plugins`` shows what loaded; ``LF_TRACE_PLUGINS=1`` prints every hook call.

Registration hooks receive a ``register`` callable. Call it once per component, with a
:class:`lf.components.ComponentSpec`. Registration must stay cheap: import only msgspec
and your config module at top level, and name the implementation lazily
(``impl="lf_trainer_kto.trainer:KTOTrainer"``); torch and friends are imported when the
component runs, never when ``lf --help`` starts.

What an implementation must provide is one interface per kind, in :mod:`lf.kinds`:
:class:`lf.kinds.Job` (train, quantize, generate), :class:`lf.kinds.Backend` (serve),
:class:`lf.kinds.Classifier` and its base :class:`lf.kinds.BaseClassifier` (route),
:class:`lf.kinds.DataFormat` (format). ``lf.testing.check_plugin`` checks a plugin against
them. Plugins use the core through its public API only: :mod:`lf.kinds`,
:mod:`lf.components`, :mod:`lf.errors`, :mod:`lf.plugin_api` (CLI helpers, model names),
:mod:`lf.serve`, :mod:`lf.experts`, :mod:`lf.data`, :mod:`lf.testing`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from lf.components import ComponentSpec, KindRunner, RunResult

hookspec = pluggy.HookspecMarker("lf")
#: Decorate your hook implementations with this marker.
hookimpl = pluggy.HookimplMarker("lf")

Register = Callable[["ComponentSpec"], None]
RegisterRunner = Callable[["KindRunner"], None]


@hookspec
def register_data_formats(register: Register) -> None:
    """Register data formats (kind ``format``); the interface is :class:`lf.kinds.DataFormat`.

    A data format recognises one record shape (``detect``), checks it (``validate``,
    ``warnings``) and converts it to the internal shape its ``shape`` names: chat
    (``to_messages``), preference (``to_preference``) or text (``to_text``); with
    ``from_messages`` ``lf data convert`` can write it. Subclass ``lf.data.formats.ChatFormat``
    (or ``DataFormat``) to get detection and validation from a typed record::

        @hookimpl
        def register_data_formats(register):
            register(ComponentSpec(kind="format", name="oasst", summary="OpenAssistant trees",
                                   impl="lf_oasst.format:OasstFormat"))
    """


@hookspec
def register_trainers(register: Register) -> None:
    """Register trainers (kind ``train``), run by ``lf run train --plugin NAME``.

    The implementation follows :class:`lf.kinds.Job`: a class with ``run(config, events) ->
    TrainResult``; ``config`` is an instance of the spec's ``config`` Struct, ``events`` an
    :class:`lf.components.Events` to report progress and metrics to. Resolve ``model``
    with :func:`lf.models.resolve_model` (``tiny``, ``smollm2``, a directory, a hub id) and
    call the lifecycle hooks below so observers see the model::

        @hookimpl
        def register_trainers(register):
            register(ComponentSpec(kind="train", name="kto", summary="KTO preference tuning",
                                   config=KTOConfig, impl="lf_trainer_kto.trainer:KTOTrainer"))
    """


@hookspec
def register_backends(register: Register) -> None:
    """Register inference backends (kind ``serve``), run by ``lf run serve --plugin NAME``.

    The implementation follows :class:`lf.kinds.Backend`: ``load(config)``, ``async
    generate(request)``, ``stream(request)`` (an async iterator of chunks) and ``models()``;
    the core's OpenAI-compatible server (``lf.serve``) drives it. Its config Struct extends
    ``lf.serve.ServeConfig`` so that ``model``, ``host``, ``port``, ``api_keys`` and the
    limits mean the same for every backend. An optional ``supports(model_dir) -> bool | str``
    on the implementation class lets ``lf serve inference`` (no ``--backend``) pick it for a
    model, or pass it over with a reason (see :mod:`lf.kinds.backend`).
    """


@hookspec
def register_quantizers(register: Register) -> None:
    """Register quantizers (kind ``quantize``), run by ``lf run quantize --plugin NAME``.

    The implementation follows :class:`lf.kinds.Job`: ``run(config, events) -> QuantizeResult``.
    """


@hookspec
def register_classifiers(register: Register) -> None:
    """Register query classifiers (kind ``route``) for the expert router.

    The implementation follows :class:`lf.kinds.Classifier`; subclass
    :class:`lf.kinds.BaseClassifier` and write ``classify`` (returning a
    :class:`lf.kinds.ClassificationResult`) and ``_rebuild``. Give the spec a ``config``
    Struct for options of your own: the router builds the classifier with
    ``from_config(config, experts, fallback_expert=...)`` and users set them beside the
    router's options (``lf serve router --classifier NAME --set option=value``). No runner
    is needed: the router service (lf-router-hybrid) serves every registered classifier::

        @hookimpl
        def register_classifiers(register):
            register(ComponentSpec(kind="route", name="regex", summary="Regular expressions per expert",
                                   config=RegexOptions, impl="lf_regex.classifier:RegexClassifier"))
    """


@hookspec
def register_generators(register: Register) -> None:
    """Register data generators (kind ``generate``), run by ``lf run generate --plugin NAME``.

    The implementation follows :class:`lf.kinds.Job`: ``run(config, events) -> RunResult``,
    writing records in one of the registered data formats.
    """


@hookspec
def register_kind_runners(register: RegisterRunner) -> None:
    """Register what runs every component of a kind the core does not run itself.

    Call ``register`` with an :class:`lf.components.KindRunner`. The router service
    (lf-router-hybrid) registers the runner of ``route``, so that ``lf run route --plugin
    NAME`` serves any classifier; its ``options`` Struct is merged with each classifier's
    own config. Give ``options`` as ``"module:Struct"`` when importing it costs anything: it
    is then imported only by the commands that need it. Two packages claiming one kind is an
    error that names both::

        @hookimpl
        def register_kind_runners(register):
            register(KindRunner(kind="route", runner="lf_router_hybrid.service.runner:run_router",
                                summary="The expert router service",
                                options="lf_router_hybrid.service.options:RouterOptions"))
    """


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add commands to the ``lf`` CLI.

    ``app`` is the root ``typer.Typer``. Add a sub-app and show it under the "Plugins"
    panel; import heavy modules inside the command functions, not at top level::

        @hookimpl
        def register_commands(app):
            plan = typer.Typer(help="Plan GPUs and cost.")
            app.add_typer(plan, name="plan", rich_help_panel="Plugins")
    """


# --- Observers and lifecycle hooks (called while a component runs) ---------------------------


@hookspec
def lf_event(component: ComponentSpec, event: str, data: dict[str, Any]) -> None:
    """Observe what a running component reports (loggers, dashboards, W&B...).

    ``event`` is ``"progress"``, ``"metrics"``, ``"message"``, ``"artifact"``, ``"start"`` or
    ``"end"``; ``data`` its payload (for ``"metrics"``: ``{"step": 10, "loss": 1.2, ...}``).
    Exceptions raised here are reported and ignored: an observer never stops a run.
    """


@hookspec
def lf_before_model_load(component: ComponentSpec, config: Any) -> None:
    """Called by trainers before the model loads; may adjust ``config`` in place."""


@hookspec
def lf_after_model_load(component: ComponentSpec, config: Any, model: Any, tokenizer: Any) -> None:
    """Called by trainers once model and tokenizer are loaded (and adapters attached)."""


@hookspec
def lf_train_callbacks(component: ComponentSpec, config: Any) -> list[Any]:
    """Return extra ``transformers.TrainerCallback`` objects for a training run."""
    return []


@hookspec
def lf_after_train(component: ComponentSpec, config: Any, result: RunResult) -> None:
    """Called when training has finished and the output is saved."""
