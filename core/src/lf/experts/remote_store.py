"""A registry read from an fsspec URL (``s3://bucket/experts.yaml``, ``gs://...``, ``https://...``): read-only.

Routers can share a registry file kept in object storage: each reads it at start and polls
its version (ETag, modification time, size) every ``registry_poll_s``; a file that turns up
malformed or cut short keeps the last good registry, as with a local file. lf never writes
there (no atomic replace or lock exists across object stores): ``lf expert add`` and
``POST /experts`` are refused with a clear error - publish a new file, or use Redis. The
filesystem's own package is needed (``s3fs`` for ``s3://``, ``gcsfs`` for ``gs://``...).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from lf.errors import ConfigError, DependencyMissingError, RunError
from lf.experts.config import ExpertConfig
from lf.experts.store import ExpertVersion, Transaction, parse_registry
from lf.experts.stores import RegistryStore, read_only
from lf.redis_support import redact

T = TypeVar("T")


class RemoteFileStore(RegistryStore):
    """A registry YAML at an fsspec URL, read and polled, never written."""

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:
            raise DependencyMissingError.for_package("fsspec", f"The expert registry {url}", "fsspec") from None
        self.location = redact(url)
        try:
            self.fs, self.fs_path = fsspec.core.url_to_fs(url)
        except ImportError as exc:  # the protocol's own package (s3fs, gcsfs...)
            raise DependencyMissingError(
                f"Reading the expert registry {self.location} needs a package that is not installed: {exc}",
                hint="Install the filesystem's package (s3fs for s3://, gcsfs for gs://, aiohttp for https://).",
            ) from None
        except ValueError as exc:
            raise ConfigError(f"{self.location} is not a registry location lf can read: {exc}") from None

    def _info(self) -> dict[str, Any] | None:
        try:
            self.fs.invalidate_cache(self.fs_path)
            return dict(self.fs.info(self.fs_path))
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise RunError(f"Cannot reach the expert registry {self.location}: {type(exc).__name__}: {exc}") from None

    def version(self) -> Hashable:
        """ETag (or checksum), modification time and size; None when the file does not exist."""
        info = self._info()
        if info is None:
            return None
        tag = info.get("ETag") or info.get("etag") or info.get("checksum") or info.get("md5")
        stamp = info.get("mtime") or info.get("LastModified") or info.get("updated") or info.get("created")
        return (str(tag), str(stamp), info.get("size"))

    def read(self, *, require_content: bool = False) -> tuple[list[ExpertConfig], Hashable]:
        """Fetch and parse the file (the integrity line, when present, is checked)."""
        version = self.version()
        if version is None:
            if require_content:
                raise ConfigError(f"The expert registry {self.location} is missing; the registry in use is kept.")
            return [], None
        try:
            text = self.fs.cat_file(self.fs_path).decode("utf-8")
        except FileNotFoundError:
            return self.read(require_content=require_content)
        except UnicodeDecodeError as exc:
            raise ConfigError(f"Cannot read the expert registry {self.location}: {exc}") from None
        except Exception as exc:
            raise RunError(f"Cannot reach the expert registry {self.location}: {type(exc).__name__}: {exc}") from None
        return parse_registry(text, self.location, allow_empty=not require_content), version

    def change(
        self, fn: Callable[[Transaction], T], *, timeout: float, require_content: bool = False
    ) -> tuple[T, Transaction]:
        """Refused: lf only reads this registry."""
        raise read_only(self.location)

    def history(self, name: str | None = None) -> list[ExpertVersion]:
        """None kept here (the object store's own versioning keeps old files)."""
        return []

    def replace_all(self, experts: list[ExpertConfig], *, timeout: float) -> Hashable:
        """Refused: lf only reads this registry."""
        raise read_only(self.location)
