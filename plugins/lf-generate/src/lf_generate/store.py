"""Where generated records go: appended as produced, crash-safe, resumable.

Three files beside each other (``out.jsonl`` shown):

* ``out.jsonl`` - the records, one JSON object a line, appended and ``fsync``'d one by
  one. For ``.json`` / ``.parquet`` output they go to ``out.json.partial.jsonl`` and the
  output file is written (atomically) from it at the end of each run.
* ``out.jsonl.journal.jsonl`` - one line per finished prompt: its key and what became of
  it (``ok``, ``filtered``, ``duplicate``, ``dropped``). It is written *after* the record,
  so a crash between the two leaves a record the journal does not know; the next run cuts
  it (it is generated again). A crash mid-line leaves a partial last line, which the next
  run cuts too. Records and ``ok`` journal lines therefore always pair up, in order.
* ``out.jsonl.failures.jsonl`` - the prompts that failed in the last run (after their
  retries), with the error; they are not in the journal, so the next run tries them again.

A lock on the journal keeps two runs from writing the same output.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

from lf.errors import ConfigError, DataError, RunError

JOURNAL_VERSION = 1
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")
OUTPUT_SUFFIXES = (*JSONL_SUFFIXES, ".json", ".parquet", ".pq")

_encoder = msgspec.json.Encoder()


def check_output_path(output: str) -> Path:
    """The output path, if its suffix is one we write; a clear error otherwise."""
    path = Path(output).expanduser()
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(
            f"output: cannot write '{path.suffix or '(no suffix)'}' files.",
            hint="Use .jsonl (appended as records are produced), .json or .parquet.",
        )
    if path.is_dir():
        raise ConfigError(f"output: {path} is a directory; give a file name.")
    return path


def _complete_lines(path: Path) -> tuple[list[bytes], int, int]:
    """``(complete lines, byte length of them, bytes after the last newline)``."""
    if not path.exists():
        return [], 0, 0
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    lines = data[:end].split(b"\n")[:-1] if end else []
    return lines, end, len(data) - end


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)
        handle.flush()
        os.fsync(handle.fileno())


class RecordStore:
    """The output of one generator run: records, journal and failures (see the module docstring).

    Args:
        output: the output file (``.jsonl``, ``.json`` or ``.parquet``).
        kind: the generator (``synthetic``, ``preferences``); a journal of another kind is refused.
        settings: what the records depend on (teacher, temperatures, format...); a resumed run
            whose settings differ is reported by :attr:`changed_settings`, a different ``format`` refused.
        overwrite: delete earlier output first instead of resuming.
    """

    def __init__(self, output: str, *, kind: str, settings: dict[str, Any], overwrite: bool = False) -> None:
        self.output = check_output_path(output)
        self.kind = kind
        self.settings = settings
        self.overwrite = overwrite
        jsonl = self.output.suffix.lower() in JSONL_SUFFIXES
        self.records_path = self.output if jsonl else self.output.with_name(self.output.name + ".partial.jsonl")
        self.journal_path = self.output.with_name(self.output.name + ".journal.jsonl")
        self.failures_path = self.output.with_name(self.output.name + ".failures.jsonl")
        #: key -> status of every prompt finished in earlier runs (and this one).
        self.done: dict[str, str] = {}
        self.kept = 0
        self.failures = 0
        self.repaired = 0
        self.changed_settings: list[str] = []
        self._header_format: Any = None
        self._records: IO[bytes] | None = None
        self._journal: IO[bytes] | None = None
        self._failures: IO[bytes] | None = None

    # -- opening, repairing, resuming --------------------------------------------------------------

    def open(self) -> None:
        """Lock, repair what a crash left, and load what earlier runs finished."""
        self.output.parent.mkdir(parents=True, exist_ok=True)
        created = not self.journal_path.exists()
        self._journal = open(self.journal_path, "ab")  # noqa: SIM115 - held (and locked) for the run
        try:
            self._lock()
            if self.overwrite:
                self._journal.truncate(0)
                for path in (self.output, self.records_path, self.failures_path):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
            elif self.journal_path.stat().st_size == 0:
                for path in {self.output, self.records_path}:
                    if path.exists() and path.stat().st_size > 0:
                        raise ConfigError(
                            f"{path} exists but was not written by `lf generate` "
                            f"(no {self.journal_path.name} beside it).",
                            hint="Choose another output, or set overwrite: true to replace it.",
                        )
            self._load()
        except BaseException:
            self._journal.close()  # releases the lock
            self._journal = None
            if created and self.journal_path.stat().st_size == 0:
                self.journal_path.unlink()
            raise
        self._records = open(self.records_path, "ab")  # noqa: SIM115 - appended to for the run
        self._failures = open(self.failures_path, "wb")  # noqa: SIM115 - this run's failures only

    def _load(self) -> None:
        assert self._journal is not None
        lines, _, tail = _complete_lines(self.journal_path)
        if tail:
            self.repaired += 1
            _truncate(self.journal_path, self.journal_path.stat().st_size - tail)
        if not lines:
            self._append(self._journal, {"lf_generate": JOURNAL_VERSION, "kind": self.kind, "settings": self.settings})
        else:
            self._check_header(lines[0])
        entries = []
        for number, line in enumerate(lines[1:], 2):
            try:
                entries.append(msgspec.json.decode(line))
            except msgspec.DecodeError:
                raise DataError(
                    f"{self.journal_path}, line {number}: not JSON; the journal was edited or damaged.",
                    hint="Set overwrite: true to start over.",
                ) from None
        self._reconcile(entries)
        if self._header_format is not None and self._header_format != self.settings.get("format"):
            if self.kept:
                raise ConfigError(
                    f"{self.output} holds records in the {self._header_format} format, "
                    f"not {self.settings.get('format')}.",
                    hint="Keep the format of the first run, use another output, or overwrite: true.",
                )
            self._rewrite_header()

    def _rewrite_header(self) -> None:
        """No record was written yet: the new settings (format) become the journal's."""
        assert self._journal is not None
        body = _complete_lines(self.journal_path)[0][1:]
        self._journal.truncate(0)
        self._journal.write(
            _encoder.encode({"lf_generate": JOURNAL_VERSION, "kind": self.kind, "settings": self.settings})
            + b"\n"
            + b"".join(line + b"\n" for line in body)
        )
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._header_format = self.settings.get("format")

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            return
        assert self._journal is not None
        try:
            fcntl.flock(self._journal.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(
                f"Another `lf generate` is writing {self.output} right now.", hint="Wait for it, or use another output."
            ) from None

    def _check_header(self, line: bytes) -> None:
        try:
            header = msgspec.json.decode(line)
        except msgspec.DecodeError:
            header = None
        if not isinstance(header, dict) or "lf_generate" not in header:
            raise DataError(f"{self.journal_path} is not an lf generate journal.", hint="Set overwrite: true.")
        if header.get("kind") != self.kind:
            raise ConfigError(
                f"{self.output} holds {header.get('kind')} data; this run generates {self.kind}.",
                hint="Use another output file, or overwrite: true.",
            )
        before = header.get("settings") or {}
        self._header_format = before.get("format")
        self.changed_settings = sorted(
            k for k in set(before) | set(self.settings) if before.get(k) != self.settings.get(k)
        )

    def _reconcile(self, entries: list[dict[str, Any]]) -> None:
        """Make records and ``ok`` journal entries pair up; remember what is done."""
        lines, _, tail = _complete_lines(self.records_path)
        if tail:
            self.repaired += 1
        ok_total = sum(1 for e in entries if e.get("status") == "ok")
        keep_records = min(len(lines), ok_total)
        if len(lines) > keep_records or tail:
            # records written but not journaled (a crash between the two): generated again
            self.repaired += len(lines) - keep_records
            _truncate(self.records_path, sum(len(line) + 1 for line in lines[:keep_records]))
        if ok_total > keep_records:
            # journaled records missing from the output (it was cut or edited): their prompts are redone
            seen_ok, cut = 0, len(entries)
            for index, entry in enumerate(entries):
                if entry.get("status") == "ok":
                    if seen_ok == keep_records:
                        cut = index
                        break
                    seen_ok += 1
            self.repaired += len(entries) - cut
            header_len = len(_complete_lines(self.journal_path)[0][0]) + 1
            body = _complete_lines(self.journal_path)[0][1 : cut + 1]
            _truncate(self.journal_path, header_len + sum(len(line) + 1 for line in body))
            entries = entries[:cut]
        self.done = {str(e["key"]): str(e.get("status")) for e in entries if "key" in e}
        self.kept = keep_records

    def records(self) -> Iterator[dict[str, Any]]:
        """The records kept so far (earlier runs included)."""
        lines, _, _ = _complete_lines(self.records_path)
        for line in lines:
            yield msgspec.json.decode(line)

    # -- writing ---------------------------------------------------------------------------------

    @staticmethod
    def _append(handle: IO[bytes], obj: Any) -> None:
        handle.write(_encoder.encode(obj) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())

    def add(self, key: str, status: str, record: dict[str, Any] | None = None, **info: Any) -> None:
        """Finish one prompt: its record first (when kept), then its journal line."""
        assert self._records is not None and self._journal is not None
        if status == "ok":
            if record is None:
                raise ValueError("a kept prompt needs its record")
            self._append(self._records, record)
            self.kept += 1
        self._append(self._journal, {"key": key, "status": status, **info})
        self.done[key] = status

    def fail(self, key: str, prompt: str, error: str, attempts: int, **info: Any) -> None:
        """Record a prompt that failed after its retries (tried again by the next run)."""
        assert self._failures is not None
        self._append(self._failures, {"key": key, "prompt": prompt, "error": error, "attempts": attempts, **info})
        self.failures += 1

    def close(self) -> None:
        """Write a .json / .parquet output from the records, drop an empty failures file, unlock."""
        for handle in (self._records, self._failures):
            if handle is not None:
                handle.close()
        self._records = self._failures = None
        try:
            partial = self.records_path != self.output and self.records_path.exists()
            if partial and (self.kept or self.output.exists()):
                from lf.data.io import write_records

                write_records(self.output, self.records())
            if self.failures == 0:
                with contextlib.suppress(FileNotFoundError):
                    self.failures_path.unlink()
        finally:
            if self._journal is not None:
                self._journal.close()  # releases the lock
                self._journal = None
