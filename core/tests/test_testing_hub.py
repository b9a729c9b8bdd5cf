"""lf.testing.hub, the local stand-in of the Hub's upload API, answers ``huggingface_hub`` for real.

In-process, so ``HfApi(endpoint=...)`` (``HF_ENDPOINT`` is read when huggingface_hub is imported).
Both of huggingface_hub's upload paths are run: the streamed pipeline used when ``hf_xet`` is
installed, and the single ``create_commit`` used without it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from lf.testing.hub import HubServer, git_blob_oid

huggingface_hub = pytest.importorskip("huggingface_hub")
constants = pytest.importorskip("huggingface_hub.constants")
errors = pytest.importorskip("huggingface_hub.errors")


@pytest.fixture(params=["xet", "no-xet"])
def api(request: pytest.FixtureRequest, hub_server: HubServer, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", request.param == "no-xet")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return huggingface_hub.HfApi(endpoint=hub_server.endpoint, token="hf_kit_token")


def folder(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# a card\n")
    (tmp_path / "config.json").write_text('{"a": 1}')
    (tmp_path / "model.safetensors").write_bytes(bytes(range(256)) * 512)
    (tmp_path / "sub" / "skip.bin").write_bytes(b"skip")
    return tmp_path


def test_create_repo_and_upload_folder_store_the_files(api, hub_server: HubServer, tmp_path: Path) -> None:
    local = folder(tmp_path)
    url = api.create_repo("org/m", private=True, exist_ok=True)
    assert str(url) == f"{hub_server.endpoint}/org/m"
    assert api.create_repo("org/m", private=True, exist_ok=True) == url  # 409, then exists
    info = api.upload_folder(repo_id="org/m", folder_path=str(local), ignore_patterns=["sub/*"], commit_message="one")
    repo = hub_server.repo("org/m")
    assert repo.private and repo.authorization == "Bearer hf_kit_token"
    assert repo.files == {p: (local / p).read_bytes() for p in ("README.md", "config.json", "model.safetensors")}
    assert info.commit_url == f"{hub_server.endpoint}/org/m/commit/{repo.head}" and repo.commits[0].summary == "one"

    # an unchanged file is not sent again; the new one is
    api.upload_folder(repo_id="org/m", folder_path=str(local), commit_message="two")
    assert repo.commits[-1].added == ["sub/skip.bin"]
    assert api.repo_info("org/m").sha == repo.head
    assert {r.authorization for r in hub_server.requests} == {"Bearer hf_kit_token"}


def test_refusals_and_unknown_requests_fail_loudly(hub_server: HubServer) -> None:
    api = huggingface_hub.HfApi(endpoint=hub_server.endpoint, token="hf_kit_token")
    hub_server.refuse = 403
    with pytest.raises(errors.HfHubHTTPError, match="403 Forbidden"):
        api.create_repo("org/refused", exist_ok=True)
    assert not hub_server.repos
    hub_server.refuse = None

    create = httpx.post(f"{hub_server.endpoint}/api/repos/create", json={"name": "m", "organization": "org"})
    assert create.status_code == 401  # no token
    api.create_repo("org/m")
    unknown = httpx.get(f"{hub_server.endpoint}/api/models/org/m/tree/main")
    assert unknown.status_code == 404 and "no GET" in unknown.json()["error"]
    assert httpx.delete(f"{hub_server.endpoint}/api/repos/delete").status_code == 404
    lfs = [{"key": "header", "value": {"summary": "s"}}, {"key": "lfsFile", "value": {"path": "w", "oid": "0"}}]
    commit = httpx.post(
        f"{hub_server.endpoint}/api/models/org/m/commit/main",
        content="\n".join(json.dumps(line) for line in lfs),
        headers={"Authorization": "Bearer x"},
    )
    assert commit.status_code == 400 and "lfsFile" in commit.json()["error"]
    garbled = httpx.post(
        f"{hub_server.endpoint}/api/models/org/m/preupload/main", content=b"{", headers={"Authorization": "x"}
    )
    assert garbled.status_code == 400 and "JSONDecodeError" in garbled.json()["error"]
    other_branch = httpx.post(f"{hub_server.endpoint}/api/models/org/m/preupload/dev", headers={"Authorization": "x"})
    assert other_branch.status_code == 404 and other_branch.headers["X-Error-Code"] == "RevisionNotFound"


def test_preupload_reports_the_git_oid_of_a_stored_file(hub_server: HubServer) -> None:
    api = huggingface_hub.HfApi(endpoint=hub_server.endpoint, token="t")
    api.create_repo("org/m")
    auth = {"Authorization": "Bearer t"}
    content = base64.b64encode(b"hi").decode()
    line = {"key": "file", "value": {"path": "a.txt", "content": content, "encoding": "base64"}}
    body = "\n".join(json.dumps(x) for x in [{"key": "header", "value": {"summary": "s"}}, line])
    assert httpx.post(f"{hub_server.endpoint}/api/models/org/m/commit/main", content=body, headers=auth).is_success
    files = [{"path": "a.txt", "sample": "", "size": 2}, {"path": "b.txt", "sample": "", "size": 1}]
    answer = httpx.post(f"{hub_server.endpoint}/api/models/org/m/preupload/main", json={"files": files}, headers=auth)
    oids = {f["path"]: f["oid"] for f in answer.json()["files"]}
    assert oids == {"a.txt": git_blob_oid(b"hi"), "b.txt": None}
    assert git_blob_oid(b"hi") == "32f95c0d1244a78b2be1bab8de17906fabb2c4a8"  # `printf hi | git hash-object --stdin`
