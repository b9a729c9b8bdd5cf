"""The registry file's integrity line: a file cut short is an error, not a smaller registry.

Writers (``lf expert add``, a router's ``POST /experts``) replace the file atomically, but
other programs may not: a copy that ran out of disk, a shell redirect, a config-management
tool. A file cut between two experts is still valid YAML, so without a check every expert
after the cut would silently vanish. So lf writes, as the file's first line::

    # lf-registry: 3 experts, sha256:<hex digest of everything after this line>

and every reader that finds that line checks it: a digest or count that does not match is
a :class:`lf.errors.ConfigError` (a router keeps its last good registry and reports the
error in ``/health``; ``lf expert`` commands exit 3 and change nothing). A file without the
line (written by hand) is read unchecked. Editing an lf-written file by hand: delete the
line first; lf writes a fresh one at its next change.
"""

from __future__ import annotations

import hashlib
import re

from lf.errors import ConfigError

#: What the integrity line starts with.
PREFIX = "# lf-registry:"
_LINE_RE = re.compile(r"^# lf-registry: (?P<n>\d+) experts?, sha256:(?P<digest>[0-9a-f]{64})$")


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _experts(count: int | str) -> str:
    return f"{count} expert" if int(count) == 1 else f"{count} experts"


def seal(body: str, count: int) -> str:
    """``body`` (the registry text) preceded by its integrity line for ``count`` experts."""
    return f"{PREFIX} {_experts(count)}, sha256:{_digest(body)}\n{body}"


def sealed_count(text: str, source: str) -> int | None:
    """The expert count the integrity line promises (None when there is no line).

    Raises :class:`ConfigError` when the line is malformed or its digest does not match
    the rest of the file.
    """
    if not text.startswith(PREFIX):
        return None
    first, _, body = text.partition("\n")
    m = _LINE_RE.match(first.rstrip("\r"))
    if m is None:
        raise ConfigError(
            f"{source}:1: malformed integrity line {first[:100]!r}.",
            hint=f"lf writes '{PREFIX} N experts, sha256:HEX'. Delete the line to load the file unchecked.",
        )
    if _digest(body) != m.group("digest"):
        raise broken(source, f"its content does not match its integrity line (written for {_experts(m.group('n'))})")
    return int(m.group("n"))


def check_count(expected: int | None, found: int, source: str) -> None:
    """Raise :class:`ConfigError` when the integrity line promised another number of experts."""
    if expected is not None and expected != found:
        raise broken(source, f"its integrity line promises {_experts(expected)}, the file holds {found}")


def broken(source: str, why: str) -> ConfigError:
    """The error for a file that fails its integrity check."""
    return ConfigError(
        f"{source}: the expert registry is damaged: {why}; it was cut short or changed by another program.",
        hint=(
            f"If you edited it by hand, delete its first line ('{PREFIX} ...') and it loads unchecked; "
            "otherwise restore it (earlier definitions are in the .history.jsonl file beside it). "
            "It was not changed."
        ),
    )
