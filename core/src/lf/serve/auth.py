"""API keys: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping

from lf.errors import ConfigError
from lf.serve.options import LOOPBACK_HOSTS, MIN_KEY_LENGTH

ENV_KEY = "LARGEFORGE_API_KEY"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def validate_keys(keys: Iterable[str], what: str = "api_keys") -> list[str]:
    """The keys, after checking each is at least :data:`MIN_KEY_LENGTH` characters."""
    out = []
    for index, key in enumerate(keys):
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"{what}[{index}] is {len(key)} characters long; API keys must have at least {MIN_KEY_LENGTH}.",
                hint='Generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"',
            )
        out.append(key)
    return out


def _split(keys: Iterable[str] | str) -> list[str]:
    """Keys given as a list or as one comma-separated string (what an environment variable holds)."""
    items = keys.split(",") if isinstance(keys, str) else list(keys)
    return [k.strip() for k in items if k.strip()]


def configured_keys(api_keys: Iterable[str] | str, environ: Mapping[str, str] | None = None) -> list[str]:
    """Keys from the config (a list or a comma-separated string) plus ``LARGEFORGE_API_KEY``, validated."""
    env = os.environ if environ is None else environ
    return validate_keys(dict.fromkeys(_split(api_keys) + _split(env.get(ENV_KEY, ""))))


def configured_admin_keys(admin_keys: Iterable[str] | str) -> list[str]:
    """Admin keys from the config (a list or a comma-separated string), validated."""
    return validate_keys(dict.fromkeys(_split(admin_keys)), "admin_keys")


def check_exposure(host: str, keys: list[str], allow_unauthenticated: bool) -> None:
    """Refuse to listen beyond loopback with no key, unless explicitly allowed."""
    if keys or allow_unauthenticated or host in LOOPBACK_HOSTS or host.startswith("127."):
        return
    raise ConfigError(
        f"Refusing to listen on {host} without an API key: anyone who can reach it could use the model.",
        hint=f"Set api_keys (or {ENV_KEY}), listen on 127.0.0.1, or pass --set allow_unauthenticated=true.",
    )


class KeyChecker:
    """Matches a request's key against the configured ones without early exit."""

    def __init__(
        self, keys: list[str], admin_keys: list[str] | None = None, *, user_keys_are_admin: bool = False
    ) -> None:
        self._keys = [_digest(k) for k in keys]
        self._admin = [_digest(k) for k in (admin_keys or [])]
        self.enabled = bool(self._keys or self._admin)
        self.user_keys_are_admin = user_keys_are_admin

    @staticmethod
    def presented(headers: Mapping[str, str]) -> str | None:
        """The key a request carries (Bearer first, then X-API-Key), or None."""
        auth = headers.get("authorization")
        if auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip()
        key = headers.get("x-api-key")
        return key.strip() if key and key.strip() else None

    def _match(self, key: str | None, digests: list[bytes]) -> int | None:
        if key is None:
            return None
        given = _digest(key)
        found = None
        for index, digest in enumerate(digests):
            if hmac.compare_digest(given, digest) and found is None:
                found = index
        return found

    def identify(self, key: str | None) -> str | None:
        """A label for the matching key (``key-0``, ``admin-1``; never the key), or None."""
        index = self._match(key, self._keys)
        if index is not None:
            return f"key-{index}"
        index = self._match(key, self._admin)
        return None if index is None else f"admin-{index}"

    def bucket(self, label: str) -> str:
        """A stable name for the key with ``label``: a digest prefix, never the key.

        Rate-limit buckets shared by replicas use it: it does not depend on the order of their key lists.
        """
        kind, _, index = label.partition("-")
        digests = self._admin if kind == "admin" else self._keys
        return ("a" if kind == "admin" else "k") + digests[int(index)].hex()[:24]

    def is_admin(self, label: str | None) -> bool:
        """Whether the key with ``label`` may call the admin endpoints.

        Only admin keys may, unless the operator opted in with ``user_keys_are_admin``. With
        no key configured at all (a server on 127.0.0.1 without auth) everything is allowed.
        """
        if not self.enabled:
            return True
        if label is None:
            return False
        return label.startswith("admin-") or self.user_keys_are_admin
