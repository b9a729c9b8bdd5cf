"""lf-planner: capacity planning and forecasting for LLM serving and fine-tuning (``lf plan``).

Registration only: the ``plan`` command group is added through ``register_commands``; every
computation module (standard library + msgspec) is imported when a command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lf.hookspecs import hookimpl
from lf_planner import config as config  # the input Structs (msgspec only)

if TYPE_CHECKING:
    import typer

__all__ = ["register_commands"]


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add ``lf plan`` (inference, training, forecast, calibrate, ...) under the Plugins panel."""
    from lf_planner.cli import app as plan_app

    app.add_typer(plan_app, name="plan", rich_help_panel="Plugins")
