"""One exception tree for LargeForge.

Every error a user can meet is an :class:`LFError`. Each carries

* ``code`` - a stable, machine-readable code. API errors use the requirements' codes
  (``INVALID_REQUEST``, ``AUTHENTICATION_FAILED``, ``MODEL_NOT_FOUND``, ...); CLI-side
  errors add their own (``CONFIG_INVALID``, ``DATA_INVALID``, ``PLUGIN_NOT_FOUND``, ...).
* ``message`` - what went wrong, in one sentence a user can act on.
* ``hint`` - optional: how to fix it.
* ``http_status`` - the status an HTTP API answers with.
* ``exit_code`` - the process exit code the CLI uses (see :data:`EXIT_CODES`).

The CLI prints ``message`` and ``hint`` and exits with ``exit_code``; it never shows a
traceback for an ``LFError`` (``--verbose`` adds one for bug reports).
"""

from __future__ import annotations

from typing import Any, ClassVar

#: Process exit codes used by the ``lf`` command (documented in ``lf --help``).
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "the command ran and failed (e.g. a data file with invalid records)",
    2: "usage error: unknown option or missing argument",
    3: "invalid configuration",
    4: "invalid or missing data",
    5: "plugin problem: unknown, broken or conflicting plugin",
    6: "a required package is not installed",
    7: "the job failed while running (training, serving, quantizing, ...)",
    70: "internal error (a bug in lf or a plugin): rerun with -v and report the traceback",
    130: "interrupted (Ctrl-C)",
}


class LFError(Exception):
    """Base class of every LargeForge error."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready mapping (OpenAI's error shape, plus ``hint``)."""
        body: dict[str, Any] = {"message": self.message, "type": self.code.lower(), "code": self.code}
        if self.hint:
            body["hint"] = self.hint
        if self.details:
            body["details"] = self.details
        return body


# --- API errors (the requirements' codes) -------------------------------------------------


class InvalidRequestError(LFError):
    """A request body or parameter is malformed or out of range."""

    code = "INVALID_REQUEST"
    http_status = 400
    exit_code = 2


class AuthenticationError(LFError):
    """Missing or invalid API key."""

    code = "AUTHENTICATION_FAILED"
    http_status = 401


class ForbiddenError(LFError):
    """The key is valid but may not do this."""

    code = "FORBIDDEN"
    http_status = 403


class ModelNotFoundError(LFError):
    """The requested model (or adapter, or expert) is not loaded or registered."""

    code = "MODEL_NOT_FOUND"
    http_status = 404
    exit_code = 4


class PayloadTooLargeError(LFError):
    """The request body exceeds the configured limit."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class RateLimitedError(LFError):
    """Too many requests for this key."""

    code = "RATE_LIMITED"
    http_status = 429


class ModelOverloadedError(LFError):
    """The model is at capacity (queue full, out of memory): retry later."""

    code = "MODEL_OVERLOADED"
    http_status = 503
    exit_code = 7


class RequestTimeoutError(LFError):
    """The request did not finish within its deadline."""

    code = "TIMEOUT"
    http_status = 504
    exit_code = 7


class InternalError(LFError):
    """An unexpected failure; the message never contains a stack trace."""

    code = "INTERNAL_ERROR"
    http_status = 500
    exit_code = 7


# --- CLI / library errors -------------------------------------------------------------------


class ConfigError(LFError):
    """A configuration file, ``--set`` override or environment variable is invalid."""

    code = "CONFIG_INVALID"
    http_status = 400
    exit_code = 3


class DataError(LFError):
    """A data file is missing, unreadable, empty or has no valid records."""

    code = "DATA_INVALID"
    http_status = 400
    exit_code = 4


class PluginError(LFError):
    """Base for plugin problems."""

    code = "PLUGIN_ERROR"
    exit_code = 5


class PluginNotFoundError(PluginError):
    """No installed plugin provides the requested kind/name."""

    code = "PLUGIN_NOT_FOUND"
    http_status = 404


class PluginConflictError(PluginError):
    """Two installed packages register a component under the same kind and name."""

    code = "PLUGIN_CONFLICT"


class PluginBrokenError(PluginError):
    """A plugin failed to import or to register its components."""

    code = "PLUGIN_BROKEN"


class DependencyMissingError(LFError):
    """An optional package needed for this operation is not installed."""

    code = "DEPENDENCY_MISSING"
    exit_code = 6

    @classmethod
    def for_package(cls, package: str, purpose: str, install: str | None = None) -> DependencyMissingError:
        """Build the standard message: what is missing, what for, and the install line."""
        return cls(
            f"{purpose} needs the package '{package}', which is not installed.",
            hint=f"pip install {install or package}",
        )


class RunError(LFError):
    """A job (training, quantization, generation...) failed while running."""

    code = "RUN_FAILED"
    exit_code = 7


class OutOfMemoryError(RunError):
    """The device ran out of memory; the hint says what to change."""

    code = "OUT_OF_MEMORY"
    http_status = 503


def missing_dependency(package: str, purpose: str, install: str | None = None) -> DependencyMissingError:
    """Shorthand for :meth:`DependencyMissingError.for_package`."""
    return DependencyMissingError.for_package(package, purpose, install)
