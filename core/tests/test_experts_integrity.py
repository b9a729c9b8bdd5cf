"""A broken registry file keeps the last good registry: empty, missing, unparsable, cut short."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from lf.errors import ConfigError
from lf.experts import ExpertConfig, ExpertManager
from lf.experts.integrity import seal
from lf.testing import run_cli

NAMES = ["alpha", "beta", "gamma"]


def writer_and_router(tmp_path: Path) -> tuple[Path, ExpertManager, ExpertManager]:
    """A registry of three experts written by one manager and loaded by another (a router)."""
    path = tmp_path / "experts.yaml"
    writer = ExpertManager(path)
    router = ExpertManager(path)
    for i, name in enumerate(NAMES):
        writer.register_expert(ExpertConfig.from_dict({"name": name, "endpoint": f"http://127.0.0.1:{8001 + i}"}))
    assert router.refresh_if_changed() is True
    assert router.names() == NAMES and router.last_error is None
    return path, writer, router


def replace_text(path: Path, text: str) -> None:
    """What another program might do: rewrite the file in place."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.utime(path, ns=(1, 1))  # a different stat key even within one mtime tick


def assert_kept(router: ExpertManager, message: str) -> None:
    assert router.refresh_if_changed() is False
    assert router.names() == NAMES  # the last good registry stays in use
    assert router.last_error is not None and message in router.last_error.message


def test_the_writer_adds_an_integrity_line(tmp_path: Path) -> None:
    path, _, _ = writer_and_router(tmp_path)
    first, _, body = path.read_text().partition("\n")
    assert first.startswith("# lf-registry: 3 experts, sha256:") and len(first.split("sha256:")[1]) == 64
    assert path.read_text() == seal(body, 3)
    empty = ExpertManager(tmp_path / "none.yaml")
    empty.register_expert(ExpertConfig(name="solo"))
    empty.unregister_expert("solo")
    assert (tmp_path / "none.yaml").read_text().startswith("# lf-registry: 0 experts, sha256:")
    assert ExpertManager(tmp_path / "none.yaml").names() == []


def test_a_file_cut_between_entries_is_refused(tmp_path: Path) -> None:
    path, writer, router = writer_and_router(tmp_path)
    text = path.read_text()
    cut = text[: text.index("  - name: gamma")]  # still valid YAML, one expert short
    replace_text(path, cut)
    assert_kept(router, "the expert registry is damaged")
    error = router.last_error
    assert error is not None and "integrity line" in error.message and "delete its first line" in (error.hint or "")
    # start-up: a clear error, not a registry of two
    with pytest.raises(ConfigError, match="damaged"):
        ExpertManager(path)
    listed = run_cli("expert", "list", "--registry", str(path))
    assert listed.returncode == 3 and "damaged" in listed.stderr
    added = run_cli("expert", "add", "delta", "--registry", str(path))
    assert added.returncode == 3 and path.read_text() == cut  # never overwritten
    with pytest.raises(ConfigError, match="damaged"):
        writer.register_expert(ExpertConfig(name="delta"))
    assert path.read_text() == cut
    writer.save_config()  # the writer's copy restores the file
    generation = router.generation
    assert router.refresh_if_changed() is True  # reloaded: the same three experts
    assert router.generation == generation  # nothing changed for listeners
    assert router.last_error is None and router.names() == NAMES


def test_an_empty_file_is_refused_on_refresh(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path, writer, router = writer_and_router(tmp_path)
    replace_text(path, "")
    with caplog.at_level(logging.WARNING, logger="lf.experts"):
        assert_kept(router, "is empty")
        assert router.refresh_if_changed() is False  # one stat, no second warning
    assert len(caplog.records) == 1
    with pytest.raises(ConfigError, match="is empty"):
        writer.register_expert(ExpertConfig(name="delta"))  # would drop the three others
    assert path.read_text() == ""
    assert ExpertManager(path).names() == []  # start-up: an empty file is an empty registry
    writer.save_config()
    router.refresh_if_changed()
    assert router.last_error is None and router.names() == NAMES


def test_a_comment_only_file_counts_as_empty(tmp_path: Path) -> None:
    path, _, router = writer_and_router(tmp_path)
    replace_text(path, "# nothing here\n\n")
    assert_kept(router, "is empty")


def test_a_deleted_file_is_refused_on_refresh(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path, writer, router = writer_and_router(tmp_path)
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="lf.experts"):
        assert_kept(router, "is missing")
        assert router.refresh_if_changed() is False
    assert len(caplog.records) == 1
    with pytest.raises(ConfigError, match="is missing"):
        writer.register_expert(ExpertConfig(name="delta"))
    assert not path.exists()
    assert ExpertManager(path).names() == []  # start-up: a missing file is an empty registry
    writer.save_config()
    assert router.refresh_if_changed() is True and router.last_error is None and router.names() == NAMES


def test_an_unparsable_file_is_refused_on_refresh(tmp_path: Path) -> None:
    path, _, router = writer_and_router(tmp_path)
    replace_text(path, "experts: [unclosed\n")
    assert_kept(router, "invalid YAML")


def test_a_hand_edit_with_the_stale_line_is_refused_and_without_it_loads(tmp_path: Path) -> None:
    path, _, router = writer_and_router(tmp_path)
    text = path.read_text()
    replace_text(path, text.replace("alpha", "omega"))
    assert_kept(router, "does not match its integrity line")
    replace_text(path, text.split("\n", 1)[1].replace("alpha", "omega"))  # first line deleted, as the hint says
    assert router.refresh_if_changed() is True
    assert router.names() == ["omega", "beta", "gamma"] and router.last_error is None


def test_a_count_that_does_not_match_or_a_malformed_line_is_refused(tmp_path: Path) -> None:
    path, _, router = writer_and_router(tmp_path)
    body = path.read_text().split("\n", 1)[1]
    replace_text(path, seal(body, 5))
    assert_kept(router, "promises 5 experts, the file holds 3")
    replace_text(path, "# lf-registry: three experts\n" + body)
    assert_kept(router, "malformed integrity line")


def test_hand_written_files_without_the_line_load(tmp_path: Path) -> None:
    path = tmp_path / "hand.yaml"
    path.write_text("# my experts\nexperts:\n  - name: a\n  - name: b\n")
    manager = ExpertManager(path)
    assert manager.names() == ["a", "b"]
    manager.register_expert(ExpertConfig(name="c"))  # lf's next write adds the line
    assert path.read_text().startswith("# lf-registry: 3 experts")
