"""The ``lf`` command. The app is built in :func:`main`, after plugins load, never at import."""

from __future__ import annotations

import sys

from lf.errors import EXIT_CODES, LFError


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``lf`` console script."""
    from lf.cli.app import build_app
    from lf.cli.console import print_error

    try:
        args = sys.argv[1:] if argv is None else argv
        app = build_app(args)
        app(args=args, prog_name="lf")
    except LFError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # a bug: one clear line, the traceback only with -v
        print_error(exc)
        sys.exit(70)


__all__ = ["EXIT_CODES", "main"]
