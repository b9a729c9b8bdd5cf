"""The expert registry shared by the ``lf expert`` commands and the router.

* :class:`ExpertConfig` - one expert: what it is good at (description, domains, keywords,
  example queries) and where it runs (model, quantization, one or more endpoint replicas).
* :class:`ExpertManager` - register / unregister / list (by domain), persisted as YAML
  (atomic, locked, versioned), with health and utilization tracking and
  ``refresh_if_changed()`` for routers that share one file.
* :func:`default_registry_path` - ``$LF_EXPERTS_FILE`` or ``~/.cache/largeforge/experts.yaml``.
* :mod:`lf.experts.keywords` - keyword syntax and regex keywords that cannot block.
* :mod:`lf.experts.integrity` - the file's first line, which makes a file cut short an error.
* :mod:`lf.experts.egress` - which endpoint URLs a router may contact (:class:`EgressPolicy`).

Importing this package costs only msgspec; YAML is parsed on first use.
"""

from lf.experts.config import ExpertConfig, Replica
from lf.experts.health import HEALTH_STATES, ExpertStatus, HealthState, HealthTracker
from lf.experts.manager import ENV_VAR, ExpertManager, default_registry_path
from lf.experts.store import ExpertVersion, dump_registry, parse_registry, read_registry

__all__ = [
    "ENV_VAR",
    "HEALTH_STATES",
    "ExpertConfig",
    "ExpertManager",
    "ExpertStatus",
    "ExpertVersion",
    "HealthState",
    "HealthTracker",
    "Replica",
    "default_registry_path",
    "dump_registry",
    "parse_registry",
    "read_registry",
]
