"""Where the router may send requests, and its upstream key (SSRF protection).

Experts added through ``POST /experts`` must pass :class:`lf.experts.egress.EgressPolicy`
(loopback, the hosts of the registry the router started with, and what ``egress`` allows;
never link-local, metadata or - unless allowed - private addresses); their URLs are stored
normalized, so a ``?`` or ``..`` cannot reach another path. The registry file itself is the
operator's: its endpoints are not re-checked. The router's ``upstream.api_key`` goes only
to ``upstream.api_key_hosts``, by default the hosts of the registry at start - never to
an endpoint that arrived later through the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import msgspec

from lf.experts import ExpertConfig
from lf.experts.egress import EgressRefusedError, hosts_of, normalize_host
from lf.logs import get_logger
from lf_router_hybrid.service.options import RouterOptions

security_log = get_logger("lf.security")


class EndpointPolicy:
    """The router's egress rules: which endpoints the API may add, which hosts get the upstream key."""

    def __init__(self, options: RouterOptions, registry: Iterable[ExpertConfig]) -> None:
        at_start = hosts_of(registry)
        self.policy = options.egress.with_hosts(at_start)
        given = options.upstream.api_key_hosts
        self.key_hosts = {_host_port(h) for h in given} if given is not None else {(h, None) for h in at_start}

    def admit(self, expert: ExpertConfig) -> ExpertConfig:
        """``expert`` with every endpoint checked and normalized; :class:`EgressRefusedError` (400) otherwise.

        Blocking (host names are resolved): call it from a worker thread.
        """
        endpoints = []
        for replica in expert.endpoints:
            try:
                url = self.policy.check(replica.url)
            except EgressRefusedError as exc:
                security_log.warning(
                    "expert endpoint refused", extra={"context": {"expert": expert.name, "reason": exc.message}}
                )
                raise
            endpoints.append(msgspec.structs.replace(replica, url=url))
        return msgspec.structs.replace(expert, endpoints=endpoints)

    def sends_key(self, url: str) -> bool:
        """Whether the upstream key may go to ``url`` (its host, or host:port, is in ``key_hosts``)."""
        host, port = _host_port(urlsplit(url).netloc)
        return (host, None) in self.key_hosts or (host, port) in self.key_hosts


def _host_port(netloc: str) -> tuple[str, int | None]:
    """``("host", port)`` of ``host``, ``host:port`` or ``[v6]:port``, normalized."""
    netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif netloc.count(":") == 1:
        host, _, port = netloc.partition(":")
    else:
        host, port = netloc, ""
    return normalize_host(host), int(port) if port.isdigit() else None
