"""The backend-agnostic OpenAI-compatible server.

``create_app(backend, config)`` builds a Litestar app around any registered backend
(``lf.serve.app``); ``lf run serve --plugin NAME`` runs it with uvicorn
(``lf.serve.runner``). Importing this package stays cheap: Litestar, uvicorn and
prometheus-client load only when an app is built (they come with ``lf-core[serve]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lf.serve.config import LimitsConfig, ServeConfig

if TYPE_CHECKING:
    from lf.serve.app import create_app

__all__ = ["LimitsConfig", "ServeConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from lf.serve.app import create_app

        return create_app
    raise AttributeError(name)
