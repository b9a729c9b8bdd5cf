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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from lf.components import ComponentSpec, RunResult

hookspec = pluggy.HookspecMarker("lf")
#: Decorate your hook implementations with this marker.
hookimpl = pluggy.HookimplMarker("lf")

Register = Callable[["ComponentSpec"], None]


@hookspec
def register_data_formats(register: Register) -> None:
    """Register data formats (kind ``format``).

    A data format recognises one record shape and converts it to the internal shapes.
    Its implementation is a class with ``name``, ``shape`` (``"chat"``, ``"preference"`` or
    ``"text"``), ``detect(record) -> bool``, ``validate(record) -> list[str]`` (problems,
    empty when fine), ``warnings(record) -> list[str]`` and a converter
    (``to_messages`` / ``to_preference`` / ``to_text``) plus ``from_messages`` when it can
    be written. See ``lf.data.formats`` for the built-in ones::

        @hookimpl
        def register_data_formats(register):
            register(ComponentSpec(kind="format", name="oasst", summary="OpenAssistant trees",
                                   impl="lf_oasst.format:OasstFormat"))
    """


@hookspec
def register_trainers(register: Register) -> None:
    """Register trainers (kind ``train``), run by ``lf run train --plugin NAME``.

    The implementation is a class with ``run(config, events) -> TrainResult``; ``config`` is
    an instance of the spec's ``config`` Struct, ``events`` an :class:`lf.components.Events`
    to report progress and metrics to::

        @hookimpl
        def register_trainers(register):
            register(ComponentSpec(kind="train", name="kto", summary="KTO preference tuning",
                                   config=KTOConfig, impl="lf_trainer_kto.trainer:KTOTrainer"))
    """


@hookspec
def register_backends(register: Register) -> None:
    """Register inference backends (kind ``serve``), run by ``lf run serve --plugin NAME``.

    The implementation is a class with ``load(config)``, ``async generate(request)``,
    ``async stream(request)`` (an async iterator of chunks) and ``models()``; the core's
    OpenAI-compatible server (``lf.serve``) drives it. Its config Struct should extend
    ``lf.serve.config.ServeConfig`` so that ``model``, ``host``, ``port`` and ``api_keys``
    mean the same for every backend.
    """


@hookspec
def register_quantizers(register: Register) -> None:
    """Register quantizers (kind ``quantize``), run by ``lf run quantize --plugin NAME``.

    The implementation is a class with ``run(config, events) -> QuantizeResult``.
    """


@hookspec
def register_classifiers(register: Register) -> None:
    """Register query classifiers (kind ``route``) for the expert router.

    The implementation is a class with ``classify(query, context=None)`` returning a
    classification (expert, confidence, scores, method), ``classify_batch(queries)``,
    ``add_expert``, ``remove_expert`` and ``list_experts``. A spec may set ``runner`` to
    start a service with it (``lf run route --plugin NAME``).
    """


@hookspec
def register_generators(register: Register) -> None:
    """Register data generators (kind ``generate``), run by ``lf run generate --plugin NAME``.

    The implementation is a class with ``run(config, events) -> RunResult`` that writes
    records in one of the registered data formats.
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
