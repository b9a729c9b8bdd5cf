"""The public API for plugin authors: everything a plugin may use from the core's CLI and runtime.

A plugin imports from here (and from :mod:`lf.kinds`, :mod:`lf.components`,
:mod:`lf.errors`, :mod:`lf.serve`, :mod:`lf.experts`, :mod:`lf.data`, :mod:`lf.chat_template`,
:mod:`lf.testing`)
- never from ``lf.cli.*`` or another private module: those may change without notice, and
``ruff`` (banned imports) refuses them in this repository's plugins.

**Commands** (``register_commands``)::

    from lf.plugin_api import command_group, execute

    @hookimpl
    def register_commands(app):
        group = command_group(app, "evaluate", help="Measure models.")   # shared with other plugins
        group.command("tasks")(tasks_command)

* :func:`command_group` - the sub-app ``lf NAME`` (created once, shared by the plugins that add to it);
* :func:`new_typer` - a typer app with lf's settings (rich help, no completion noise);
* :func:`execute` - run a registered component as ``lf run`` does (config file, ``--set``,
  flags, ``--dry-run``, progress, the result summary, exit codes).

**Output**, which honours the global ``-q/--quiet`` and ``-v/--verbose`` flags:

* :func:`info` - a status line on stderr (hidden by ``--quiet``); :func:`warn` - always shown;
* :func:`console` - the shared rich console (``console(stderr=True)`` for diagnostics);
* :func:`print_json` - machine-readable output on stdout; :func:`print_result` - a job's summary;
* :class:`RichEvents` - an :class:`lf.components.Events` sink that draws progress bars;
* :func:`interruptible` - Ctrl-C becomes "interrupted" and exit code 130;
* :func:`is_quiet`, :func:`verbosity` - the global flags, for output of your own.

Raise :mod:`lf.errors` classes for problems the user can fix: the CLI prints the message
and hint (a traceback only with ``-v``) and exits with the error's code.

**Models**: :func:`resolve_model` turns what a user typed as ``model`` - ``tiny`` (a tiny
random chat model built offline), ``smollm2`` (the embedded SmolLM2-135M-Instruct), a
directory, a hub id - into something ``from_pretrained`` loads. Every trainer and backend
uses it, so ``model: tiny`` works everywhere.

**Lifecycle hooks** (trainers): call them through :func:`call_hook` so that a failing
observer is reported, never fatal::

    call_hook("lf_before_model_load", component=spec, config=config)
    model, tokenizer = load(...)
    call_hook("lf_after_model_load", component=spec, config=config, model=model, tokenizer=tokenizer)
    callbacks = [c for extra in call_hook("lf_train_callbacks", component=spec, config=config) for c in extra]
    ...
    call_hook("lf_after_train", component=spec, config=config, result=result)

**Serving**: :func:`require_serve_extra` fails clearly when ``lf-core[serve]`` is missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

__all__ = [
    "RichEvents",
    "call_hook",
    "command_group",
    "console",
    "execute",
    "info",
    "interruptible",
    "is_quiet",
    "new_typer",
    "print_json",
    "print_result",
    "require_serve_extra",
    "resolve_model",
    "verbosity",
    "warn",
]


def command_group(app: typer.Typer, name: str, *, help: str = "", panel: str | None = None) -> typer.Typer:
    """The sub-app ``lf NAME``, created on first use - so several plugins can add to one group."""
    from lf.cli.friendly import group

    return group(app, name, help=help, panel=panel)


def new_typer(help: str, **kwargs: Any) -> typer.Typer:
    """A ``typer.Typer`` with lf's settings (rich markup, no completion options)."""
    from lf.cli.base import new_typer as make

    return make(help, **kwargs)


def execute(
    kind: str,
    name: str,
    *,
    config: Path | str | None = None,
    overrides: list[str] | None = None,
    flags: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> None:
    """Run the ``kind`` component ``name`` exactly as ``lf run KIND --plugin NAME`` does."""
    from lf.cli.run_cmd import execute as run

    run(
        kind,
        name,
        config=Path(config) if config else None,
        overrides=list(overrides or []),
        flags=flags,
        dry_run=dry_run,
    )


def console(stderr: bool = False) -> Any:
    """The shared rich console (stdout; ``stderr=True`` for diagnostics)."""
    from lf.cli.console import console as shared

    return shared(stderr)


def info(text: str) -> None:
    """A status line on stderr, unless ``--quiet``."""
    from lf.cli.console import info as show

    show(text)


def warn(text: str) -> None:
    """A warning on stderr (shown even with ``--quiet``)."""
    from lf.cli.console import warn as show

    show(text)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (no colours, no wrapping)."""
    from lf.cli.console import print_json as show

    show(data)


def print_result(result: Any) -> None:
    """The summary of a job's :class:`lf.components.RunResult` (metrics, artifacts)."""
    from lf.cli.console import print_result as show

    show(result)


def is_quiet() -> bool:
    """Whether ``-q/--quiet`` was given."""
    from lf.cli.console import STATE

    return STATE.quiet


def verbosity() -> int:
    """How many ``-v`` were given (0: normal)."""
    from lf.cli.console import STATE

    return STATE.verbose


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C inside becomes one "interrupted" line and exit code 130."""
    from lf.cli.console import interruptible as guard

    with guard():
        yield


def RichEvents() -> Any:  # noqa: N802 - a factory standing for the class
    """An :class:`lf.components.Events` sink that draws rich progress bars (use as a context manager)."""
    from lf.cli.console import RichEvents as Sink

    return Sink()


def resolve_model(name_or_path: str, **kwargs: Any) -> str:
    """``tiny``, ``smollm2``, a directory or a hub id, as something ``from_pretrained`` loads."""
    from lf.models import resolve_model as resolve

    return str(resolve(name_or_path, **kwargs))


def call_hook(name: str, **kwargs: Any) -> list[Any]:
    """Call a lifecycle hook of every plugin; an observer that raises is reported, never fatal."""
    from lf.plugins import get_registry

    return get_registry().call_safely(name, **kwargs)


def require_serve_extra() -> None:
    """Fail clearly when the serving dependencies (``lf-core[serve]``) are not installed."""
    from lf.serve.runner import require_serve_extra as check

    check()
