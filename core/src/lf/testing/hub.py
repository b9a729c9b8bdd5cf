"""A local stand-in for the Hugging Face Hub's upload API, for tests. It is NOT the Hub.

::

    with running_hub_server() as hub:
        env = {**os.environ, **hub.env, "HF_TOKEN": "hf_test"}   # HF_ENDPOINT points at the stand-in
        subprocess.run(["lf", "run", "train", ..., "--set", "push_to_hub=org/name"], env=env)
        assert hub.repo("org/name").files["adapter_config.json"] == ...

A small HTTP server (the standard library's ``ThreadingHTTPServer``, in a thread, on a free
127.0.0.1 port) that answers exactly the requests ``huggingface_hub`` (2.x) makes for
``HfApi.create_repo(..., exist_ok=True, private=...)`` and ``HfApi.upload_folder(...)``:

* ``POST /api/repos/create`` - creates the repository (409 when it exists), keeping its
  ``private`` flag;
* ``POST /api/validate-yaml`` - the model card check made when ``README.md`` is uploaded
  (every card is accepted);
* ``POST /api/{type}s/{ns}/{name}/preupload/{revision}`` - answers ``uploadMode: regular`` for
  every file, so the client sends the contents inline and no LFS or Xet storage is needed;
* ``POST /api/{type}s/{ns}/{name}/commit/{revision}`` - the NDJSON commit (a header line, then
  ``file`` lines with base64 contents, ``deletedFile`` / ``deletedFolder`` lines); the files are
  kept in memory per repository (:attr:`HubRepo.files`);
* ``GET /api/{type}s/{ns}/{name}[/revision/{revision}]`` - repository info (what ``create_repo``
  asks when creation is refused, to see whether the repository exists anyway).

Writes need an ``Authorization`` header (401 without one); every request is recorded with the
header it carried (:attr:`HubServer.requests`). Only the ``main`` branch exists. Anything else -
another route, an ``lfsFile`` commit line - is answered 404 or 400 with a JSON error naming
it, so a change in ``huggingface_hub``'s protocol fails loudly instead of passing quietly. Set
:attr:`HubServer.refuse` to an HTTP status (401, 403) and every write is refused with it.

Running against this checks what ``lf`` sends and how it handles the answers; it does not
check the real Hub's permissions, quotas, LFS/Xet storage or model card rules.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

#: ``/api/{type}s/{namespace}/{name}...``: the repository routes.
_REPO_ROUTE = re.compile(r"^/api/(?P<type>model|dataset|space)s/(?P<id>[^/]+/[^/]+)(?P<rest>/.*)?$")
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


class HubHTTPError(Exception):
    """An answer other than 200: status, message, the Hub's ``X-Error-Code`` (if any) and more JSON fields."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


@dataclass
class HubCommit:
    """One commit as it arrived: its summary, new oid, and the paths it added and deleted."""

    summary: str
    oid: str
    added: list[str]
    deleted: list[str]
    authorization: str | None


@dataclass
class HubRepo:
    """A repository of the stand-in: its files (path -> bytes) on ``main`` and its commits."""

    repo_id: str
    repo_type: str
    private: bool
    authorization: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[HubCommit] = field(default_factory=list)

    @property
    def head(self) -> str:
        """The oid of the last commit (a fixed one for the initial, empty commit)."""
        return self.commits[-1].oid if self.commits else "0" * 40


@dataclass
class HubRequest:
    """One request: method, path (no query) and the ``Authorization`` header it carried."""

    method: str
    path: str
    authorization: str | None


@dataclass
class HubServer:
    """The running stand-in: its URL, the repositories and requests it has seen, and the refusal switch."""

    endpoint: str
    repos: dict[str, HubRepo] = field(default_factory=dict)
    requests: list[HubRequest] = field(default_factory=list)
    #: an HTTP status (401, 403...) to answer every write with; None accepts them
    refuse: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def env(self) -> dict[str, str]:
        """The environment that points ``huggingface_hub`` (read at import) at the stand-in."""
        return {"HF_ENDPOINT": self.endpoint}

    def repo(self, repo_id: str, repo_type: str = "model") -> HubRepo:
        """The repository ``repo_id`` (a KeyError naming the ones there if it was never created)."""
        key = _URL_PREFIX[repo_type] + repo_id
        if key not in self.repos:
            raise KeyError(f"no repository {key} on the stand-in hub; it has {sorted(self.repos)}")
        return self.repos[key]

    def url(self, repo: HubRepo) -> str:
        """The repository's web URL, as the Hub gives it."""
        return f"{self.endpoint}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}"


def git_blob_oid(data: bytes) -> str:
    """The git object id of a file's contents (``git hash-object``), as the Hub reports it for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


# --- the API --------------------------------------------------------------------------------


def _create(hub: HubServer, auth: str | None, body: bytes, _match: Any) -> dict[str, Any]:
    payload = json.loads(body or b"{}")
    repo_type = payload.get("type") or "model"
    if repo_type not in _URL_PREFIX or not payload.get("name"):
        raise HubHTTPError(400, f"cannot create a repository from {payload}")
    repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
    key = _URL_PREFIX[repo_type] + repo_id
    if key in hub.repos:
        # the Hub's answer names the repository: create_repo(exist_ok=True) reads its url
        raise HubHTTPError(409, f"You already created this {repo_type} repo", url=hub.url(hub.repos[key]))
    private = payload.get("visibility") == "private" or payload.get("private") is True
    repo = hub.repos[key] = HubRepo(repo_id, repo_type, private=private, authorization=auth)
    return {"url": hub.url(repo), "name": repo_id, "id": repo_id}


def _validate_yaml(_hub: HubServer, _auth: str | None, _body: bytes, _match: Any) -> dict[str, Any]:
    return {"errors": [], "warnings": []}


def _find(hub: HubServer, match: re.Match[str], auth: str | None) -> tuple[HubRepo, str]:
    """The repository a route names and the action after it; 404 RepoNotFound when absent or hidden."""
    key = _URL_PREFIX[match["type"]] + match["id"]
    repo = hub.repos.get(key)
    if repo is None or (repo.private and not auth):
        raise HubHTTPError(404, f"Repository not found: {key}", code="RepoNotFound")
    rest = match["rest"] or ""
    for action in ("/preupload/", "/commit/", "/revision/"):
        if rest.startswith(action):
            if unquote(rest[len(action) :]) != "main":
                raise HubHTTPError(404, f"Invalid rev id: {unquote(rest[len(action) :])}", code="RevisionNotFound")
            return repo, action.strip("/")
    return repo, rest


def _info(hub: HubServer, auth: str | None, _body: bytes, match: re.Match[str]) -> dict[str, Any]:
    repo, action = _find(hub, match, auth)
    if action not in ("", "revision"):
        raise HubHTTPError(404, f"the stand-in hub has no GET {match.string}")
    siblings = [{"rfilename": path} for path in sorted(repo.files)]
    return {"id": repo.repo_id, "private": repo.private, "sha": repo.head, "siblings": siblings}


def _preupload(repo: HubRepo, body: bytes) -> dict[str, Any]:
    files = json.loads(body)["files"]
    answers = [
        {
            "path": f["path"],
            "uploadMode": "regular",
            "shouldIgnore": False,
            "oid": git_blob_oid(repo.files[f["path"]]) if f["path"] in repo.files else None,
        }
        for f in files
    ]
    return {"files": answers, "commitOid": repo.head}


def _commit(hub: HubServer, repo: HubRepo, body: bytes, auth: str | None) -> dict[str, Any]:
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    if not lines or lines[0].get("key") != "header":
        raise HubHTTPError(400, "a commit starts with a header line")
    files, added, deleted = dict(repo.files), [], []
    for line in lines[1:]:
        key, value = line.get("key"), line.get("value", {})
        if key == "file" and value.get("encoding") == "base64":
            files[value["path"]] = base64.b64decode(value["content"])
            added.append(value["path"])
        elif key in ("deletedFile", "deletedFolder"):
            prefix = value["path"].rstrip("/") + "/"
            gone = [p for p in files if p == value["path"] or (key == "deletedFolder" and p.startswith(prefix))]
            for path in gone:
                del files[path]
            deleted += gone
        else:
            raise HubHTTPError(400, f"the stand-in hub takes inline base64 files only, not a {key!r} line")
    oid = hashlib.sha1(f"{repo.head}{lines[0]}{sorted(added)}".encode(), usedforsecurity=False).hexdigest()
    repo.files = files
    repo.commits.append(HubCommit(str(lines[0]["value"].get("summary", "")), oid, added, deleted, auth))
    return {"commitUrl": f"{hub.url(repo)}/commit/{oid}", "commitOid": oid, "success": True, "pullRequestUrl": None}


def _write(hub: HubServer, auth: str | None, body: bytes, match: re.Match[str]) -> dict[str, Any]:
    repo, action = _find(hub, match, auth)
    if action == "preupload":
        return _preupload(repo, body)
    if action == "commit":
        return _commit(hub, repo, body, auth)
    raise HubHTTPError(404, f"the stand-in hub has no POST {match.string}")


Route = Callable[[HubServer, str | None, bytes, Any], dict[str, Any]]
#: (method, path pattern, handler, is a write)
_ROUTES: list[tuple[str, re.Pattern[str], Route, bool]] = [
    ("POST", re.compile(r"^/api/repos/create$"), _create, True),
    ("POST", re.compile(r"^/api/validate-yaml$"), _validate_yaml, False),
    ("POST", _REPO_ROUTE, _write, True),
    ("GET", _REPO_ROUTE, _info, False),
]


def answer(hub: HubServer, method: str, path: str, auth: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
    """``(status, JSON body)`` for one request: the whole API, without the HTTP plumbing."""
    with hub.lock:
        hub.requests.append(HubRequest(method, path, auth))
        try:
            for verb, pattern, handler, write in _ROUTES:
                match = pattern.match(path)
                if verb != method or match is None:
                    continue
                if write and hub.refuse:
                    raise HubHTTPError(hub.refuse, "The stand-in hub refuses writes (HubServer.refuse is set)")
                if write and not auth:
                    raise HubHTTPError(401, "Invalid username or password.")
                return 200, handler(hub, auth, body, match)
            raise HubHTTPError(404, f"the stand-in hub has no route {method} {path}")
        except HubHTTPError as refused:
            error = refused
        except (ValueError, KeyError, TypeError) as exc:  # a body that is not what the Hub takes (JSON, base64)
            error = HubHTTPError(400, f"malformed request to the stand-in hub: {type(exc).__name__}: {exc}")
    return error.status, {"error": error.message, **({"code": error.code} if error.code else {}), **error.extra}


# --- HTTP -----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        try:
            status, payload = answer(
                self.server.hub, self.command, urlsplit(self.path).path, self.headers.get("Authorization"), self._body()
            )
        except Exception as exc:  # a bug in the stand-in: say so rather than drop the connection
            status, payload = 500, {"error": f"the stand-in hub failed: {type(exc).__name__}: {exc}"}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status != 200:
            message = str(payload.get("error", ""))[:200].encode("ascii", "replace").decode()
            self.send_header("X-Error-Message", message)
            if payload.get("code"):
                self.send_header("X-Error-Code", str(payload["code"]))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the requests are recorded on the server instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: HubServer


@contextlib.contextmanager
def running_hub_server(host: str = "127.0.0.1") -> Iterator[HubServer]:
    """Serve the stand-in on a free port of ``host`` in a background thread; stop it afterwards."""
    server = _Server((host, 0), _Handler)
    server.hub = HubServer(endpoint=f"http://{host}:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="lf-hub-stand-in", daemon=True)
    thread.start()
    try:
        yield server.hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
