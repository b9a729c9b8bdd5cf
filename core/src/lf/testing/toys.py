"""Small real components for tests of the runner and the CLI (and as a plugin example).

``CountingJob`` counts to ``steps``, reporting progress and a falling "loss", and writes
a result file - a job with every behaviour of a trainer but none of the cost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import msgspec

from lf.atomic import atomic_write_text
from lf.components import ComponentSpec, Events, RunResult
from lf.hookspecs import Register, hookimpl


class CountingConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of the counting job."""

    output_dir: Annotated[str, msgspec.Meta(description="Where result.json goes")]
    steps: Annotated[int, msgspec.Meta(ge=1, description="How many steps to count")] = 3
    start_loss: Annotated[float, msgspec.Meta(gt=0, description="Loss reported at step 0")] = 2.0
    tags: Annotated[list[str], msgspec.Meta(description="Labels copied into the result")] = []
    fail: Annotated[bool, msgspec.Meta(description="Raise an error at the last step")] = False


class CountingJob:
    """Counts to ``steps``; the loss halves each step."""

    def run(self, config: CountingConfig, events: Events) -> RunResult:
        """Count, report, write ``result.json``."""
        loss = config.start_loss
        for step in range(1, config.steps + 1):
            if config.fail and step == config.steps:
                from lf.errors import RunError

                raise RunError(f"failing at step {step} as asked")
            loss /= 2
            events.progress("counting", step, config.steps, loss=loss)
            events.metrics({"loss": loss}, step=step)
        path = Path(config.output_dir) / "result.json"
        atomic_write_text(path, json.dumps({"steps": config.steps, "loss": loss, "tags": config.tags}))
        events.artifact("result", str(path))
        return RunResult(output_dir=config.output_dir, metrics={"loss": loss}, artifacts={"result": str(path)})


@hookimpl
def register_trainers(register: Register) -> None:
    """Register the counting job as the ``count`` trainer."""
    register(
        ComponentSpec(
            kind="train",
            name="count",
            summary="Counts to N (a test trainer)",
            config=CountingConfig,
            impl="lf.testing.toys:CountingJob",
            positionals=("output_dir",),
        )
    )


def counting_plugin() -> Any:
    """This module, ready for ``registry.add_plugin`` / ``isolated_registry``."""
    import sys

    return sys.modules[__name__]
