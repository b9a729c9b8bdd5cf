"""``lf plan --config FILE [--rps 20 ...]``: the mode comes from the file, the flags override it.

The requirements' JSON mode (FR-4.3, FR-4.4.4) is ``forecast --config FILE --rps 20.0 --cost``:
no mode on the command line. :class:`ConfigModeGroup` reads the file's ``mode`` (or its
sections) and runs ``lf plan MODE --config FILE ...`` - the subcommand that has every flag
of that mode - so overriding flags work exactly as after ``lf plan inference``.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

_CONFIG = ("--config", "-c")


class ConfigModeGroup(TyperGroup):
    """The ``lf plan`` group: with ``--config FILE`` and no subcommand, the file's mode is the subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Insert the config file's mode when ``--config`` is given and no subcommand is."""
        config = self._config_without_command(args)
        if config is not None:
            from lf_planner.configfile import detect_mode, read

            args = [detect_mode(read(config), config), *args]
        return super().parse_args(ctx, args)

    def _config_without_command(self, args: list[str]) -> str | None:
        """The ``--config`` value when ``args`` name no subcommand (and do not ask for a template)."""
        takes_value = _value_options(self.params)
        for command in self.commands.values():  # `--rps 20` may come before the mode is known
            takes_value |= _value_options(getattr(command, "params", []))
        config: str | None = None
        i = 0
        while i < len(args):
            arg = args[i]
            name, eq, value = arg.partition("=")
            if arg in ("--help", "-h", "--generate-config") or name == "--generate-config":
                return None
            if not arg.startswith("-"):
                return None if arg in self.commands else config  # a subcommand, or a stray word for click
            if name in _CONFIG:
                config = value if eq else (args[i + 1] if i + 1 < len(args) else None)
            if not eq and (arg in takes_value or arg in _CONFIG):
                i += 1  # skip the option's value
            i += 1
        return config


def _value_options(params: list[Any]) -> set[str]:
    """The spellings of the options among ``params`` that take a value (``--rps``, ``-o``...)."""
    return {
        opt
        for p in params
        if getattr(p, "param_type_name", "") == "option" and not getattr(p, "is_flag", False)
        for opt in p.opts
    }
