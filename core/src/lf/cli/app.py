"""Builds the ``lf`` typer app: core commands, the friendly tree, then plugin commands."""

from __future__ import annotations

from typing import Any

import typer

from lf import __version__
from lf.cli.base import new_typer
from lf.errors import EXIT_CODES

HELP = (
    "LargeForge: fine-tune, compress, serve and route language models.\n\n"
    "Every capability is a plugin. Start with `lf plugins` (what is installed), `lf doctor` "
    "(is this machine ready) and `lf config show train sft > sft.yaml` (a config to edit), "
    "then `lf run train --plugin sft --config sft.yaml` - or its short form `lf train sft`."
)

EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())

CORE_PANEL = "Core"
JOBS_PANEL = "Jobs (from installed plugins)"
PLUGINS_PANEL = "Plugins"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lf {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors; no progress bars."),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More detail (-vv for debug logs; tracebacks on errors)."
    ),
) -> None:
    """Global options."""
    import logging

    from lf.cli.console import STATE
    from lf.logs import setup_logging

    STATE.quiet, STATE.verbose = quiet, verbose
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    setup_logging(level)


def build_app(argv: list[str] | None = None) -> typer.Typer:
    """The root app; plugins are discovered here.

    With ``argv`` (the command line about to run) only the command being run is built in
    full; the others keep their name and help, which is all a listing needs. This is what
    keeps `lf --help` fast however many plugins are installed. ``None`` builds everything.
    """
    from lf.cli import (
        config_cmd,
        data_cmd,
        doctor,
        expert_cmd,
        friendly,
        models_cmd,
        plugin_cmd,
        plugins_cmd,
        run_cmd,
        serve_cmd,
    )
    from lf.plugins import get_registry

    app = new_typer(HELP, name="lf", epilog=EPILOG)
    app.callback()(_root)
    app.command("run", rich_help_panel=CORE_PANEL)(run_cmd.run)
    app.command("plugins", rich_help_panel=CORE_PANEL)(plugins_cmd.plugins)
    app.command("doctor", rich_help_panel=CORE_PANEL)(doctor.doctor)
    app.add_typer(config_cmd.app, name="config", rich_help_panel=CORE_PANEL)
    app.add_typer(data_cmd.app, name="data", rich_help_panel=CORE_PANEL)
    app.add_typer(models_cmd.app, name="models", rich_help_panel=CORE_PANEL)
    app.add_typer(plugin_cmd.app, name="plugin", rich_help_panel=CORE_PANEL)
    app.add_typer(expert_cmd.app, name="expert", rich_help_panel=CORE_PANEL)
    registry = get_registry()
    path = None if argv is None else [word for word in argv if not word.startswith("-")][:2]
    if path is None or path[:1] == ["data"]:
        data_cmd.describe_formats(registry)
    friendly.add_job_groups(app, registry, panel=JOBS_PANEL, path=path)
    serve_cmd.add_commands(app)
    _add_plugin_commands(app, registry)
    if path is not None:
        _keep_only(app, path[:1])
    return app


def _keep_only(app: typer.Typer, first: list[str]) -> None:
    """Replace every group but the one being run by an empty one with the same name and help."""
    for info in app.registered_groups:
        sub = info.typer_instance
        if sub is None or [info.name] == first:
            continue
        help_text = info.help or sub.info.help
        info.typer_instance = new_typer(help_text if isinstance(help_text, str) else "")


def _add_plugin_commands(app: typer.Typer, registry: Any) -> None:
    registry.call_safely("register_commands", app=app)
