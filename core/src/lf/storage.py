"""Paths that may be fsspec URLs: ``s3://``, ``gs://``, ``hf://``, ``file://`` and any other fsspec protocol.

Where a path makes sense remote - training data and models in, checkpoints, adapters and
logs out - lf accepts a URL and works on a local copy:

* **in** (:func:`fetch`): a remote file or directory is copied once into
  ``$LARGEFORGE_HOME/remote/`` and read from there. The copy is keyed by the URL and the
  remote files' identity (size, ETag or modification time), so a changed object is fetched
  again, and it is written atomically (a half-finished download is never reused).
* **out** (:func:`upload_dir`): a job writes into a local staging directory
  (:func:`staging_dir`), then the directory is uploaded with its *markers last*: first any
  marker already at the destination is deleted, then every other file, then the markers of
  sub-directories (``checkpoint-N/lf_checkpoint.json``), then the top-level ones
  (``lf_output.json``). An interrupted upload therefore never leaves something that looks
  complete; an object store makes each file appear whole or not at all.

Credentials and endpoints come from each backend's usual configuration (for S3:
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for S3-compatible
servers such as MinIO; fsspec's ``FSSPEC_S3_ENDPOINT_URL``-style variables work too). The
protocol packages are optional: ``s3fs`` for ``s3://`` (``lf-core[storage]``), ``gcsfs`` for
``gs://``, ``huggingface_hub`` for ``hf://``. fsspec is imported only when a URL is used.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lf.errors import DataError, DependencyMissingError, RunError

_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")
#: Protocols whose paths are not storage URLs (endpoints are http(s), handled by their own code).
_NOT_STORAGE = ("http", "https")
#: Which package provides each well-known protocol, for the "not installed" message.
PROTOCOL_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "hf": "huggingface_hub"}
#: Files written last when uploading (their presence says the rest is complete).
DEFAULT_MARKERS = ("lf_output.json", "lf_checkpoint.json", ".lf-complete")


def protocol(path: str | os.PathLike[str]) -> str | None:
    """The URL scheme of ``path`` (``"s3"``), or None for a plain local path."""
    match = _URL.match(os.fspath(path)) if isinstance(path, str) else None
    return match.group(1).lower() if match else None


def is_remote(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a storage URL other than ``file://`` (``http(s)://`` endpoints are not storage)."""
    scheme = protocol(path)
    return scheme is not None and scheme not in ("file", "local", *_NOT_STORAGE)


def local_path(path: str | os.PathLike[str]) -> str:
    """``file:///x/y`` -> ``/x/y``; other paths unchanged."""
    text = os.fspath(path)
    return text[len("file://") :] if protocol(text) in ("file", "local") else text


def filesystem(url: str) -> tuple[Any, str]:
    """``(fsspec filesystem, path inside it)`` for ``url``; a missing protocol package is a clear error."""
    scheme = protocol(url) or "file"
    try:
        import fsspec
    except ImportError as exc:
        raise DependencyMissingError.for_package("fsspec", f"Reading and writing {scheme}:// paths") from exc
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        package = PROTOCOL_PACKAGES.get(scheme, f"the fsspec implementation of {scheme}://")
        extra = "'lf-core[storage]'" if package == "s3fs" else package
        raise DependencyMissingError.for_package(package, f"{scheme}:// paths", extra) from exc
    except ValueError as exc:
        raise DataError(f"{url}: not a storage URL fsspec knows ({exc}).") from exc
    return fs, str(path)


def _home() -> Path:
    return Path(os.environ.get("LARGEFORGE_HOME") or Path.home() / ".cache" / "largeforge")


def _slug(url: str) -> str:
    name = re.sub(r"[^\w.-]+", "-", url.rstrip("/").rsplit("/", 1)[-1])[:60] or "root"
    return f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}"


def staging_dir(url: str) -> Path:
    """The local directory a job writes into before its output is uploaded to ``url`` (stable per URL)."""
    return _home() / "staging" / _slug(url)


def _storage_error(url: str, action: str, exc: BaseException) -> RunError:
    return RunError(
        f"Could not {action} {url}: {type(exc).__name__}: {str(exc)[:300]}",
        hint="Check the URL, the credentials (for S3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for "
        "an S3-compatible server) and the network.",
    )


def _identity(info: dict[str, Any]) -> str:
    keys = ("size", "ETag", "etag", "md5Hash", "LastModified", "mtime", "updated", "blob_id", "last_commit")
    return "|".join(str(info.get(k)) for k in keys)


def fetch(url: str) -> Path:
    """A local copy of the remote file or directory ``url`` (downloaded once, then reused while unchanged)."""
    from lf.atomic import atomic_directory

    fs, path = filesystem(url)
    try:
        if not fs.exists(path):
            raise DataError(f"Not found: {url}", hint="Check the bucket and the path (and your credentials).")
        is_dir = fs.isdir(path)
        listing = sorted(fs.find(path, detail=True).items()) if is_dir else [(path, fs.info(path))]
    except DataError:
        raise
    except Exception as exc:
        raise _storage_error(url, "read", exc) from exc
    digest = hashlib.sha256("\n".join(f"{name}:{_identity(info)}" for name, info in listing).encode()).hexdigest()
    target = _home() / "remote" / f"{_slug(url)}-{digest[:12]}"
    done = target / ".lf-fetched"
    name = path.rstrip("/").rsplit("/", 1)[-1] or "data"
    if not done.exists():
        with atomic_directory(target, overwrite=True) as staging:
            try:
                if is_dir:
                    fs.get(path.rstrip("/") + "/", str(staging / name) + "/", recursive=True)
                else:
                    fs.get(path, str(staging / name))
            except Exception as exc:
                raise _storage_error(url, "download", exc) from exc
            (staging / ".lf-fetched").write_text(url + "\n", encoding="utf-8")
    return target / name


def _upload_order(root: Path, markers: Iterable[str]) -> list[Path]:
    """Every file under ``root``: plain files, then markers in sub-directories (deepest first), then top-level ones."""
    marker_names = set(markers)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    plain = [p for p in files if p.name not in marker_names]
    marks = [p for p in files if p.name in marker_names]
    marks.sort(key=lambda p: (-len(p.relative_to(root).parts), str(p)))
    return plain + marks


def upload_dir(
    local: str | os.PathLike[str], url: str, *, markers: Iterable[str] = DEFAULT_MARKERS, exclude: Iterable[str] = ()
) -> list[str]:
    """Upload the directory ``local`` to ``url``, markers last (see the module docstring); returns the URLs written.

    ``exclude``: names of top-level entries to leave out (e.g. a staging sub-directory).
    """
    root = Path(local)
    fs, base = filesystem(url)
    base = base.rstrip("/")
    markers = tuple(markers)
    skip = set(exclude)
    order = [p for p in _upload_order(root, markers) if p.relative_to(root).parts[0] not in skip]
    written: list[str] = []
    try:
        for marker in markers:  # a destination that said "complete" must not say so while being replaced
            if fs.exists(f"{base}/{marker}"):
                fs.rm(f"{base}/{marker}")
        for file in order:
            rel = file.relative_to(root).as_posix()
            fs.put_file(str(file), f"{base}/{rel}")
            written.append(f"{url.rstrip('/')}/{rel}")
    except Exception as exc:
        raise _storage_error(url, "upload to", exc) from exc
    return written
