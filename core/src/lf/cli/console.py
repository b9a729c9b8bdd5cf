"""Terminal output shared by the commands: consoles, error panels, progress rendering.

rich is imported on first use so that ``lf --help`` does not pay for it.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lf.errors import LFError


@dataclass
class CliState:
    """Global flags (``--quiet``, ``--verbose``) set by the root callback."""

    quiet: bool = False
    verbose: int = 0


STATE = CliState()
_consoles: dict[bool, Any] = {}


def console(stderr: bool = False) -> Any:
    """The shared rich console (stdout, or stderr for diagnostics)."""
    if stderr not in _consoles:
        from rich.console import Console

        _consoles[stderr] = Console(stderr=stderr, highlight=False, soft_wrap=False)
    return _consoles[stderr]


def info(text: str) -> None:
    """Print a status line unless ``--quiet``."""
    if not STATE.quiet:
        console(stderr=True).print(text)


def warn(text: str) -> None:
    """Print a warning (shown even with ``--quiet``)."""
    console(stderr=True).print(f"[yellow]warning:[/] {text}")


def print_error(exc: BaseException) -> None:
    """One clear message (and hint) for an error; a traceback only with ``-v``."""
    from rich.markup import escape

    err = console(stderr=True)
    if isinstance(exc, LFError):
        err.print(f"[bold red]error[/] [dim]({exc.code})[/]: {escape(exc.message)}")
        if exc.hint:
            err.print(f"  [cyan]hint:[/] {escape(exc.hint)}")
    else:
        err.print(f"[bold red]error[/]: {escape(type(exc).__name__)}: {escape(str(exc))}")
        err.print("  [cyan]hint:[/] this is a bug in lf or a plugin; rerun with -v and report it with the traceback.")
    if STATE.verbose:
        err.print("".join(traceback.format_exception(exc)), markup=False)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Turn Ctrl-C into a one-line message and exit code 130."""
    import typer

    try:
        yield
    except KeyboardInterrupt:
        console(stderr=True).print("\n[yellow]interrupted[/]")
        raise typer.Exit(130) from None


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (no colours, no wrapping)."""
    import msgspec

    sys.stdout.write(msgspec.json.format(msgspec.json.encode(data), indent=2).decode() + "\n")


class RichEvents:
    """Renders :class:`lf.components.Events` as rich progress bars and log lines."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self.last_metrics: dict[str, float] = {}

    def _bar(self) -> Any:
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=console(stderr=True),
                disable=STATE.quiet,
                transient=False,
            )
            self._progress.start()
        return self._progress

    def progress(self, description: str, completed: float, total: float | None = None, **fields: Any) -> None:
        """Create or update the bar called ``description``."""
        bar = self._bar()
        text = "  ".join(f"{k} {_fmt(v)}" for k, v in fields.items())
        if description not in self._tasks:
            self._tasks[description] = bar.add_task(description, total=total, completed=completed, info=text)
        else:
            bar.update(self._tasks[description], completed=completed, total=total, info=text)

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        """Remember the latest metrics (shown in the summary)."""
        self.last_metrics.update(values)

    def message(self, text: str, level: str = "info") -> None:
        """Print a line above the bars."""
        from rich.markup import escape

        if level == "debug" and not STATE.verbose:
            return
        if STATE.quiet and level in ("debug", "info"):
            return
        style = {"warning": "yellow", "error": "red", "debug": "dim"}.get(level, "")
        line = escape(text) if not style else f"[{style}]{escape(text)}[/]"
        (self._progress.console if self._progress else console(stderr=True)).print(line)

    def artifact(self, name: str, path: str) -> None:
        """Announce a written file."""
        self.message(f"wrote {name}: {path}")

    def close(self) -> None:
        """Stop the live display."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> RichEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_result(result: Any) -> None:
    """Summarize a RunResult-like object as a small table."""
    import msgspec
    from rich.table import Table

    if result is None or STATE.quiet:
        return
    data = msgspec.to_builtins(result) if isinstance(result, msgspec.Struct) else result
    if not isinstance(data, dict):
        console().print(str(data))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in data.items():
        if value in (None, "", {}, []):
            continue
        if isinstance(value, dict):
            for sub, v in value.items():
                table.add_row(f"{key}.{sub}", _fmt(v))
        else:
            table.add_row(key, _fmt(value))
    console().print(table)
