"""How every ``lf`` (sub)command group is built, so they all look and behave alike."""

from __future__ import annotations

import typer

#: Plain click-style help: rich's help renderer costs ~80 ms of imports, and `lf --help`
#: must stay fast. Command *output* still uses rich.
TYPER_STYLE: dict[str, object] = {
    "rich_markup_mode": None,
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "context_settings": {"help_option_names": ["-h", "--help"], "max_content_width": 100},
}


def new_typer(help: str, **kwargs: object) -> typer.Typer:
    """A typer app with LargeForge's defaults."""
    return typer.Typer(help=help, **{**TYPER_STYLE, **kwargs})  # type: ignore[arg-type]
