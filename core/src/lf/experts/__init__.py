"""The expert registry shared by the ``lf expert`` commands and the router.

* :class:`ExpertConfig` - one expert: what it is good at (description, domains, keywords,
  example queries) and where it runs (model, quantization, one or more endpoint replicas).
* :class:`ExpertManager` - register / unregister / list (by domain), persisted in a store
  (atomic, versioned), with health and utilization tracking, ``refresh_if_changed()`` and
  ``watch()`` for routers that share one registry.
* :mod:`lf.experts.stores` - where a registry lives: :class:`RegistryStore`, the YAML file
  (:class:`FileStore`, the default), Redis (``redis://host:6379/0``,
  :mod:`lf.experts.redis_store`) or a read-only fsspec URL (:mod:`lf.experts.remote_store`).
* :func:`default_registry` - ``$LF_EXPERTS_FILE`` (a path or a URL) or ``~/.cache/largeforge/experts.yaml``.
* :mod:`lf.experts.keywords` - keyword syntax and regex keywords that cannot block.
* :mod:`lf.experts.integrity` - the file's first line, which makes a file cut short an error.
* :mod:`lf.experts.egress` - which endpoint URLs a router may contact (:class:`EgressPolicy`).

Importing this package costs only msgspec; YAML is parsed on first use.
"""

from lf.experts.config import ExpertConfig, Replica
from lf.experts.health import HEALTH_STATES, ExpertStatus, HealthState, HealthTracker
from lf.experts.manager import ENV_VAR, ExpertManager, default_registry, default_registry_path
from lf.experts.store import ExpertVersion, dump_registry, parse_registry, read_registry
from lf.experts.stores import FileStore, RegistryStore, open_store

__all__ = [
    "ENV_VAR",
    "HEALTH_STATES",
    "ExpertConfig",
    "ExpertManager",
    "ExpertStatus",
    "ExpertVersion",
    "FileStore",
    "HealthState",
    "HealthTracker",
    "RegistryStore",
    "Replica",
    "default_registry",
    "default_registry_path",
    "dump_registry",
    "open_store",
    "parse_registry",
    "read_registry",
]
