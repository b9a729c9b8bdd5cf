"""Where an expert registry lives: the store interface and its implementations.

* :class:`FileStore` - the YAML file (the default; one machine, or a volume every router
  shares): atomic replace, an inter-process lock, history beside it (:mod:`lf.experts.store`).
* :class:`~lf.experts.redis_store.RedisStore` - ``redis://host:6379/0``: several machines;
  versions, atomic updates (WATCH/MULTI), history, change notification (pub/sub).
* :class:`~lf.experts.remote_store.RemoteFileStore` - a registry read from any other fsspec
  URL (``s3://bucket/experts.yaml``, ``https://...``): read-only, polled.

:func:`open_store` picks one from what the user wrote (a path, ``file://``, ``redis://``,
``rediss://``, ``unix://``, or another fsspec URL). :class:`lf.experts.ExpertManager` holds
the registry in memory and talks to its store only through this interface.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

from lf.errors import ConfigError, RunError
from lf.experts.config import ExpertConfig
from lf.experts.store import (
    ExpertVersion,
    Transaction,
    file_lock,
    read_history,
    read_registry,
    stat_key,
    transaction,
    write_registry,
)

T = TypeVar("T")

#: Environment variable naming the registry file the CLI and routers use by default.
ENV_VAR = "LF_EXPERTS_FILE"


def default_registry_path() -> Path:
    """``$LF_EXPERTS_FILE`` (a path), else ``experts.yaml`` under ``lf.models.home()`` (~/.cache/largeforge).

    :func:`default_registry` also takes a Redis or fsspec URL from the variable.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    from lf.models import home

    return home() / "experts.yaml"


def default_registry() -> str:
    """``$LF_EXPERTS_FILE`` as given (a path or a ``redis://`` / fsspec URL), else the default file."""
    env = os.environ.get(ENV_VAR, "").strip()
    return env if env else str(default_registry_path())


class RegistryStore(abc.ABC):
    """Reads and changes one registry; every method may raise :class:`lf.errors.LFError`.

    A *version* is any hashable value that changes whenever the registry does (a file's
    stat key, Redis's counter); None when there is no registry yet.
    """

    #: Where the registry lives, as messages show it (a path; a URL without its password).
    location: str = ""
    #: The registry file, for a file store (None otherwise).
    path: Path | None = None

    @abc.abstractmethod
    def version(self) -> Hashable:
        """The current version; cheap (one ``stat``, one GET). Raises when the store cannot be reached."""

    @abc.abstractmethod
    def read(self, *, require_content: bool = False) -> tuple[list[ExpertConfig], Hashable]:
        """The experts and their version. A missing or empty registry is empty, or an error with ``require_content``."""

    @abc.abstractmethod
    def change(
        self, fn: Callable[[Transaction], T], *, timeout: float, require_content: bool = False
    ) -> tuple[T, Transaction]:
        """Apply ``fn`` to the registry atomically: ``fn`` may run again if another writer came in between.

        Returns its result and the transaction (``key``: the version once written).
        """

    @abc.abstractmethod
    def history(self, name: str | None = None) -> list[ExpertVersion]:
        """Previous definitions, oldest first (only ``name``'s when given)."""

    @abc.abstractmethod
    def replace_all(self, experts: list[ExpertConfig], *, timeout: float) -> Hashable:
        """Store exactly ``experts`` (no history entries); returns the new version."""

    def watch(self, on_change: Callable[[], object]) -> None:  # noqa: B027 - optional: polling is the default
        """Call ``on_change()`` (from another thread) soon after the registry changes; stores that cannot are polled."""

    def close(self) -> None:  # noqa: B027 - optional
        """Stop watching and release connections."""


class FileStore(RegistryStore):
    """The registry YAML file (see :mod:`lf.experts.store` for the guarantees)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.file = Path(path).expanduser()
        self.path = self.file
        self.location = str(self.file)

    def version(self) -> Hashable:
        """The file's ``(inode, size, mtime)``; None when it does not exist."""
        return stat_key(self.file)

    def read(self, *, require_content: bool = False) -> tuple[list[ExpertConfig], Hashable]:
        """See :func:`lf.experts.store.read_registry`."""
        return read_registry(self.file, require_content=require_content)

    def change(
        self, fn: Callable[[Transaction], T], *, timeout: float, require_content: bool = False
    ) -> tuple[T, Transaction]:
        """Under the file lock: read, ``fn``, replace the file (only if something changed)."""
        with transaction(self.file, timeout, require_content=require_content) as txn:
            result = fn(txn)
        return result, txn

    def history(self, name: str | None = None) -> list[ExpertVersion]:
        """From ``NAME.history.jsonl`` beside the file."""
        return read_history(self.file, name)

    def replace_all(self, experts: list[ExpertConfig], *, timeout: float) -> Hashable:
        """Write the file atomically under the lock."""
        with file_lock(self.file, timeout):
            write_registry(self.file, experts)
            return stat_key(self.file)


def open_store(location: str | os.PathLike[str] | RegistryStore) -> RegistryStore:
    """The store of ``location``: a store as is, a Redis URL, an fsspec URL, else a file path."""
    if isinstance(location, RegistryStore):
        return location
    text = os.fspath(location)
    from lf.redis_support import is_redis_url

    if is_redis_url(text):
        from lf.experts.redis_store import RedisStore

        return RedisStore(text)
    if text.startswith("file://"):
        return FileStore(_file_url_path(text))
    if "://" in text:
        from lf.experts.remote_store import RemoteFileStore

        return RemoteFileStore(text)
    path = Path(text).expanduser()
    if path.exists() and not path.is_file():
        raise ConfigError(f"The expert registry {path} is not a file.", hint="Point the registry at a YAML file.")
    return FileStore(path)


def _file_url_path(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(f"{url}: a file:// URL names a file on this machine (file:///path/experts.yaml).")
    return unquote(parts.path)


def read_only(location: str) -> RunError:
    """The error for a change to a registry lf can only read."""
    return RunError(
        f"The expert registry {location} is read-only for lf: change it where it is kept.",
        hint="Use a file or a Redis registry (redis://host:6379/0) to change experts with lf.",
    )
