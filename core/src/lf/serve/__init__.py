"""The serving layer every ``lf`` HTTP service is built on, and the OpenAI-compatible model server.

* :mod:`lf.serve.options` - :class:`ServerOptions`: address, keys and roles, TLS, CORS, logs, limits;
* :mod:`lf.serve.service` - :class:`~lf.serve.service.Service` and ``create_service_app``:
  auth guards, admission, rate limits, request ids, access log, OpenAI-shaped errors,
  ``/health`` ``/ready`` ``/metrics`` ``/openapi.json``;
* :mod:`lf.serve.runner` - checks, then uvicorn (``serve_app``);
* :mod:`lf.serve.app` - ``create_app(backend, config)``: the model server around any
  registered backend (``lf run serve --plugin NAME``); the router (lf-router-hybrid) is
  another service on the same layer.

Importing this package stays cheap: Litestar, uvicorn and prometheus-client load only
when an app is built (they come with ``lf-core[serve]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lf.serve.config import LimitsConfig, RequestDefaults, ServeConfig
from lf.serve.options import ServerOptions, ServiceLimits

if TYPE_CHECKING:
    from lf.serve.app import create_app
    from lf.serve.service import Service, create_service_app

__all__ = [
    "LimitsConfig",
    "RequestDefaults",
    "ServeConfig",
    "ServerOptions",
    "Service",
    "ServiceLimits",
    "create_app",
    "create_service_app",
]

_LAZY = {"create_app": "lf.serve.app", "Service": "lf.serve.service", "create_service_app": "lf.serve.service"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
