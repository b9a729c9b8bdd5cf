"""Invalid experts are never written: the CLI, the manager and the file refuse the same way."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from lf.errors import ConfigError
from lf.experts import ExpertConfig, ExpertManager
from lf.experts.store import history_path
from lf.testing import run_cli

BAD = "/([/"


def registry_with_one_expert(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "experts.yaml"
    manager = ExpertManager(path)
    manager.register_expert(ExpertConfig.from_dict({"name": "code", "keywords": ["python", r"/\bdef\b/"]}))
    manager.update_expert("code", priority=1)  # one history entry
    return path, path.read_bytes()


def snapshot(path: Path) -> tuple[bytes | None, bytes | None]:
    hp = history_path(path)
    return (path.read_bytes() if path.exists() else None, hp.read_bytes() if hp.exists() else None)


def test_cli_add_refuses_an_invalid_regex_and_writes_nothing(tmp_path: Path) -> None:
    path, _ = registry_with_one_expert(tmp_path)
    before = snapshot(path)
    result = run_cli("expert", "add", "bad", "--keywords", BAD, "--registry", str(path))
    assert result.returncode == 3, result.stderr
    assert "keyword /([/" in result.stderr and "not a valid regular expression" in result.stderr
    assert "unterminated character set" in result.stderr  # the regex error itself
    assert "Traceback" not in result.stderr
    assert snapshot(path) == before  # byte for byte, history included
    # a later valid add still works
    assert run_cli("expert", "add", "ok", "--keywords", "fine", "--registry", str(path)).returncode == 0
    assert ExpertManager(path).names() == ["code", "ok"]


def test_cli_add_creates_no_file_for_a_refused_expert(tmp_path: Path) -> None:
    path = tmp_path / "new.yaml"
    result = run_cli("expert", "add", "bad", "--keywords", "/" + "a" * 300 + "/", "--registry", str(path))
    assert result.returncode == 3 and "the limit is 256" in result.stderr
    assert not path.exists() and not history_path(path).exists()


def test_register_expert_validates_before_writing(tmp_path: Path) -> None:
    path, _ = registry_with_one_expert(tmp_path)
    before = snapshot(path)
    manager = ExpertManager(path)
    with pytest.raises(ValueError, match="not a valid regular expression"):
        ExpertConfig(name="bad", keywords=[BAD])  # built in code: refused at once
    sneaky = ExpertConfig(name="bad", keywords=["ok"])
    sneaky.keywords.append(BAD)  # a list changed after the check
    with pytest.raises(ConfigError, match=r"keyword /\(\[/ is not a valid regular expression"):
        manager.register_expert(sneaky)
    with pytest.raises(ConfigError, match="name"):
        manager.register_expert(ExpertConfig(name="bad name!"))  # constraints msgspec checks only on decode
    with pytest.raises(ConfigError, match="temperature"):
        manager.register_expert(ExpertConfig(name="hot", temperature=9), replace=True)
    assert snapshot(path) == before
    assert manager.names() == ["code"] and ExpertManager(path).names() == ["code"]


def test_update_expert_validates_before_writing(tmp_path: Path) -> None:
    path, _ = registry_with_one_expert(tmp_path)
    before = snapshot(path)
    manager = ExpertManager(path)
    with pytest.raises(ConfigError, match=r"expert 'code'.*keyword /\(\[/ is not a valid regular expression"):
        manager.update_expert("code", keywords=["python", BAD])
    with pytest.raises(ConfigError, match="at most 1000"):
        manager.update_expert("code", keywords=["/a{5000}/"])
    assert snapshot(path) == before
    assert manager.require("code").keywords == ["python", r"/\bdef\b/"] and manager.require("code").version == 2


def test_in_memory_registry_refuses_too(tmp_path: Path) -> None:
    manager = ExpertManager()
    sneaky = ExpertConfig(name="x")
    sneaky.keywords.append(BAD)
    with pytest.raises(ConfigError):
        manager.register_expert(sneaky)
    assert len(manager) == 0 and manager.history() == []


def test_a_file_with_an_invalid_regex_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "experts.yaml"
    path.write_text("experts:\n  - name: a\n  - name: b\n    keywords: [ok, '/([/']\n")
    with pytest.raises(ConfigError, match="not a valid regular expression") as info:
        ExpertManager(path)
    assert "experts.yaml:3: expert 'b': keyword /([/" in info.value.message


def test_from_dict_refuses_what_the_file_refuses() -> None:
    with pytest.raises(ConfigError, match=r"the request body: expert 'x': keyword /\(\[/"):
        ExpertConfig.from_dict({"name": "x", "keywords": [BAD]}, source="the request body")
    ok = ExpertConfig.from_dict({"name": "x", "keywords": [r"/\d{4}-\d{2}/^2", "word^3", "a phrase"]})
    assert msgspec.json.decode(msgspec.json.encode(ok), type=ExpertConfig) == ok


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://admin:hunter2@127.0.0.1:8001", "user name or password"),
        ("http://token@127.0.0.1:8001/v1", "user name or password"),
        ("http://127.0.0.1:8001/v1?api_key=sk-123", "a query"),
        ("http://127.0.0.1:8001?", "a query"),
        ("http://127.0.0.1:8001/v1#s3cret", "a fragment"),
        ("http://127.0.0.1:8001#", "a fragment"),
    ],
)
def test_endpoint_urls_refuse_userinfo_query_and_fragment(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        ExpertConfig.from_dict({"name": "x", "endpoint": url}, source="the request body")
    for secret in ("hunter2", "token", "sk-123", "s3cret"):
        assert secret not in str(info.value)
    path = tmp_path / "experts.yaml"
    result = run_cli("expert", "add", "x", "--endpoint", url, "--registry", str(path))
    assert result.returncode == 3 and message in result.stderr and not path.exists()
    assert "hunter2" not in result.stderr and "sk-123" not in result.stderr
    path.write_text(f"experts:\n  - name: x\n  - name: y\n    endpoint: '{url}'\n")
    with pytest.raises(ConfigError, match=message) as loaded:
        ExpertManager(path)
    assert "experts.yaml:3" in loaded.value.message


def test_plain_endpoint_urls_still_load() -> None:
    expert = ExpertConfig.from_dict({"name": "x", "endpoints": ["http://127.0.0.1:8001/v1/", "https://h.example"]})
    assert expert.urls == ["http://127.0.0.1:8001/v1/", "https://h.example"]  # stored as given
    assert ExpertConfig.from_dict({"name": "y", "endpoint": "http://h:1/a@b"}).urls == ["http://h:1/a@b"]
