"""The job kinds - ``train``, ``quantize``, ``generate``: one ``run(config, events)`` each.

A job is a class the runner instantiates without arguments; ``run`` gets the validated
config Struct and an :class:`lf.components.Events` sink, and returns a
:class:`lf.components.RunResult` (``TrainResult`` for trainers, ``QuantizeResult`` for
quantizers). Report progress with ``events.progress``, numbers with ``events.metrics``,
files with ``events.artifact``; raise :mod:`lf.errors` classes for failures the user
can fix (the CLI turns them into a message and an exit code, never a traceback).

Trainers also call the lifecycle hooks so that observers can act on the model
(``lf_before_model_load``, ``lf_after_model_load``, ``lf_train_callbacks``,
``lf_after_train``; see :mod:`lf.hookspecs`) and resolve model names with
:func:`lf.models.resolve_model` (``tiny``, ``smollm2``, a directory, a hub id).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from lf.components import Events, RunResult


@runtime_checkable
class Job(Protocol):
    """A trainer, quantizer or generator: ``run(config, events) -> RunResult``."""

    def run(self, config: Any, events: Events) -> RunResult:
        """Do the work described by ``config``, reporting to ``events``."""
        ...
