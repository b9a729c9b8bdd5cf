"""Which endpoint URLs a router may contact: :class:`EgressPolicy` (SSRF protection).

A router's ``POST /experts`` takes an endpoint URL from a client, and its health checker
contacts that URL at once. Without a policy a client could point it at the cloud metadata
service (``http://169.254.169.254/``) or any host on the router's private network. So each
endpoint URL goes through :meth:`EgressPolicy.check` before it is stored or contacted::

    from lf.experts.egress import EgressPolicy, EgressRefusedError, hosts_of

    # once, when the registry changes: the registry's own hosts stay allowed
    policy = configured_policy.with_hosts(hosts_of(manager.list_experts()))
    # once per endpoint of a new expert (blocking: it resolves names; in async code
    # call it through anyio.to_thread.run_sync):
    url = policy.check(replica.url)   # the normalized URL, or EgressRefusedError (a ConfigError: 400)

The rules (:meth:`EgressPolicy.check`):

* ``http`` / ``https`` only; no user name or password, query, fragment, backslash,
  percent-encoding, whitespace or non-ASCII character anywhere;
* the host is an IP address in its standard spelling (``127.0.0.1``, ``[::1]``) or a
  host name; numeric spellings other programs read as addresses (``2852039166``,
  ``0xa9fea9fe``, ``0x7f.1``, ``010.0.0.1``) are refused, so no parser can disagree;
* the path loses empty segments and its trailing slash; ``.`` and ``..`` segments are refused;
* a host name is resolved (``socket.getaddrinfo``, at most ``resolve_timeout_s``) and
  every address it has is checked; a name that does not resolve is refused;
* loopback and public addresses are allowed; private networks (10/8, 172.16/12,
  192.168/16, fc00::/7) and shared CGNAT space (100.64/10) only with ``allow_private``;
  link-local (169.254/16, fe80::/10), cloud metadata (169.254.169.254, fd00:ec2::254,
  ``metadata.google.internal``, ...), unspecified, multicast and reserved addresses
  never by default. IPv4 addresses inside IPv6 ones (``::ffff:169.254.169.254``, NAT64,
  6to4, Teredo) are checked as IPv4 too;
* ``allowed_hosts`` (names or addresses, matched exactly) and ``allowed_networks``
  (CIDRs containing the address) lift every address rule; an allowed host name is not
  resolved.

The check resolves names when it runs; a name whose DNS answer changes later (DNS
rebinding) is only caught if the caller checks again before connecting.
Only the standard library and msgspec are imported here.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from lf.errors import ConfigError

if TYPE_CHECKING:
    from lf.experts.config import ExpertConfig

__all__ = ["EgressPolicy", "EgressRefusedError", "hosts_of", "normalize_host", "split_endpoint"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Well-known cloud metadata services (AWS, ECS/EKS, Alibaba, Oracle; AWS over IPv6).
_METADATA = "169.254.169.254 169.254.170.2 169.254.170.23 100.100.100.200 192.0.0.192 fd00:ec2::254 fd00:ec2::23"
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in _METADATA.split())
#: Host names of cloud metadata services (refused whatever they resolve to).
_METADATA_NAMES = "metadata metadata.google.internal metadata.goog instance-data instance-data.ec2.internal"
METADATA_NAMES = frozenset([*_METADATA_NAMES.split(), "metadata.tencentyun.com", "metadata.platformequinix.com"])
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48"))
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL_RE = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@-]+$")


class EgressRefusedError(ConfigError):
    """An endpoint URL the egress policy does not allow; the message says why, the hint how to allow it."""

    code = "EGRESS_REFUSED"


@dataclass(frozen=True)
class Endpoint:
    """An endpoint URL taken apart by :func:`split_endpoint`."""

    scheme: str
    #: lower case, no trailing dot; an IPv6 address without brackets
    host: str
    port: int | None
    #: ``""`` or ``/a/b`` (no empty segments, no trailing slash)
    path: str
    #: the host as an address, when it is one
    address: Address | None

    @property
    def url(self) -> str:
        """The normalized URL."""
        host = f"[{self.host}]" if isinstance(self.address, ipaddress.IPv6Address) else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{self.path}"


def _shown(url: str) -> str:
    """``url`` safe for a message: no user name or password, no query or fragment."""
    base = re.split(r"[?#]", url, maxsplit=1)[0]
    more = len(base) < len(url) or len(base) > 200
    base = re.sub(r"^([^:/]*://)[^/]*@", r"\1***@", base)[:200]
    return base + ("..." if more else "")


def _refuse(url: str, why: str, hint: str | None = None) -> EgressRefusedError:
    return EgressRefusedError(f"Endpoint {_shown(url)!r} refused: {why}.", hint=hint)


def split_endpoint(url: str) -> Endpoint:
    """Check an endpoint URL's syntax and normalize it (no name resolution, no address rules).

    Raises :class:`EgressRefusedError` for anything but ``http(s)://host[:port][/path]``.
    """
    if not isinstance(url, str) or not url:
        raise EgressRefusedError(f"An endpoint URL must be a non-empty string, got {type(url).__name__}.")
    for bad, why in (("\\", "a backslash"), ("%", "percent-encoding"), ("?", "a query"), ("#", "a fragment")):
        if bad in url:
            raise _refuse(url, f"it has {why}", "Give the server's base URL only: http(s)://host[:port][/path].")
    if len(url) > 2048 or any(ord(c) <= 32 or ord(c) >= 127 for c in url):
        raise _refuse(url, "it is longer than 2048 characters or has whitespace, control or non-ASCII characters")
    m = _SCHEME_RE.match(url)
    scheme = m.group(1).lower() if m else ""
    if scheme not in ("http", "https"):
        raise _refuse(url, f"the scheme is {scheme or 'missing'!r}; only http and https are allowed")
    rest = url[m.end() :] if m else url
    if not rest.startswith("//"):
        raise _refuse(url, "it has no host (write http://host:port)")
    authority, _, path = rest[2:].partition("/")
    if "@" in authority:
        raise _refuse(
            url, "it has a user name or password (user@host)", "Credentials do not belong in an endpoint URL."
        )
    host, port = _split_authority(url, authority)
    address, host = _parse_host(url, host)
    return Endpoint(scheme, host, port, _normalize_path(url, path), address)


def _split_authority(url: str, authority: str) -> tuple[str, int | None]:
    if authority.startswith("["):
        host, sep, after = authority[1:].partition("]")
        if not sep or (after and not after.startswith(":")):
            raise _refuse(url, "its IPv6 address is not written as [address] or [address]:port")
        port_text = after[1:] if after else None
        host = f"[{host}]"
    else:
        host, sep, port_text_raw = authority.partition(":")
        port_text = port_text_raw if sep else None
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _refuse(url, f"port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _parse_host(url: str, host: str) -> tuple[Address | None, str]:
    """The host's address (None for a name) and its normalized spelling."""
    if host.startswith("["):
        try:
            v6 = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise _refuse(url, f"{host} is not an IPv6 address") from None
        return v6, v6.compressed
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise _refuse(url, "it has no host")
    try:
        v4 = ipaddress.IPv4Address(host)
        return v4, str(v4)
    except ValueError:
        pass
    labels = host.split(".")
    if _NUMERIC_LABEL_RE.match(labels[-1]):
        try:
            meant = f" (some programs read it as {socket.inet_ntoa(socket.inet_aton(host))})"
        except OSError:
            meant = ""
        raise _refuse(
            url,
            f"host {host!r} is not a standard IP address{meant} nor a host name",
            "Write IPv4 addresses as four decimal numbers without leading zeros, e.g. 127.0.0.1.",
        )
    if len(host) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise _refuse(url, f"{host!r} is not a valid host name")
    return None, host


def _normalize_path(url: str, path: str) -> str:
    segments = [s for s in path.split("/") if s]
    for segment in segments:
        if segment in (".", ".."):
            raise _refuse(url, f"its path has a {segment!r} segment")
        if not _SEGMENT_RE.match(segment):
            raise _refuse(url, f"its path segment {segment!r} has characters a URL path may not hold")
    return "".join(f"/{s}" for s in segments)


def normalize_host(host: str) -> str:
    """A host as :class:`EgressPolicy` compares them: lower case, no trailing dot or brackets."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


def hosts_of(experts: Iterable[ExpertConfig]) -> list[str]:
    """The hosts of every endpoint of ``experts`` (a registry), normalized and sorted.

    A router adds them to its policy (:meth:`EgressPolicy.with_hosts`) so that the
    endpoints its operator registered stay reachable. URLs :func:`split_endpoint`
    refuses are left out.
    """
    hosts: set[str] = set()
    for expert in experts:
        for replica in expert.endpoints:
            try:
                hosts.add(split_endpoint(replica.url).host)
            except EgressRefusedError:
                continue
    return sorted(hosts)


# --- the address rules --------------------------------------------------------------------------

_PRIVATE_REASON = "a private-network address"
_SHARED_REASON = "a shared (carrier-grade NAT, 100.64.0.0/10) address"


def _unmapped(addr: Address) -> Address:
    """``::ffff:a.b.c.d`` -> ``a.b.c.d`` (the same address); others unchanged."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _reason(addr: Address) -> str | None:
    """Why ``addr`` is refused by default, or None (loopback, public)."""
    if addr in METADATA_ADDRESSES:
        return "a cloud metadata service address"
    if addr.is_loopback:
        return None
    if addr.is_unspecified:
        return "the unspecified address"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_multicast:
        return "a multicast address"
    if any(addr in net for net in _PRIVATE):
        return _PRIVATE_REASON
    if addr in _CGNAT:
        return _SHARED_REASON
    if not addr.is_global:
        return "a reserved (special-purpose) address"
    return None


def _embedded(addr: Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses carried inside an IPv6 one (NAT64, 6to4, Teredo); mapped ones are handled by _reason."""
    if not isinstance(addr, ipaddress.IPv6Address):
        return []
    out: list[ipaddress.IPv4Address] = []
    if any(addr in net for net in _NAT64):
        out.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    if addr.sixtofour is not None:
        out.append(addr.sixtofour)
    if addr.teredo is not None:
        out.extend(addr.teredo)
    return out


def _networks(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"allowed_networks: {cidr!r} is not a network in CIDR notation (e.g. 10.0.0.0/8, fd00::/8)"
            ) from None
    return out


class EgressPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which endpoint URLs a router may store and contact (see the module docstring for the rules).

    Args:
        allowed_hosts: host names or addresses allowed whatever they resolve to (exact
            match, case-insensitive; an address also allows names resolving to it).
        allowed_networks: CIDRs (``10.1.0.0/16``, ``fd12::/16``) whose addresses are allowed.
        allow_private: allow private networks (10/8, 172.16/12, 192.168/16, fc00::/7) and
            CGNAT space (100.64/10); link-local, metadata and reserved stay refused.
        resolve_timeout_s: the longest a host name may take to resolve.

    Usable as a field of a msgspec config (``egress: EgressPolicy = EgressPolicy()``).
    """

    allowed_hosts: Annotated[list[str], msgspec.Meta(description="Hosts allowed whatever they resolve to")] = []
    allowed_networks: Annotated[list[str], msgspec.Meta(description="CIDRs whose addresses are allowed")] = []
    allow_private: Annotated[bool, msgspec.Meta(description="Allow private networks and CGNAT space")] = False
    resolve_timeout_s: Annotated[float, msgspec.Meta(gt=0, description="Longest a name may take to resolve")] = 2.0

    def __post_init__(self) -> None:
        _networks(self.allowed_networks)  # a bad CIDR fails here, not at the first check

    def with_hosts(self, hosts: Iterable[str]) -> EgressPolicy:
        """A copy that also allows ``hosts`` (e.g. :func:`hosts_of` the registry)."""
        merged = dict.fromkeys([*self.allowed_hosts, *hosts])
        return msgspec.structs.replace(self, allowed_hosts=list(merged))

    def check(self, url: str) -> str:
        """The normalized ``url`` if the policy allows contacting it; else :class:`EgressRefusedError`.

        Blocking: a host name is resolved (at most ``resolve_timeout_s``).
        """
        endpoint = split_endpoint(url)
        hosts = {normalize_host(h) for h in self.allowed_hosts}
        if endpoint.host in hosts:
            return endpoint.url
        if endpoint.address is None and endpoint.host in METADATA_NAMES:
            raise _refuse(url, f"{endpoint.host!r} is a cloud metadata service", self._hint(endpoint.host, None))
        nets = _networks(self.allowed_networks)
        for h in hosts:
            try:
                nets.append(ipaddress.ip_network(h))
            except ValueError:
                continue
        addresses = [endpoint.address] if endpoint.address is not None else self._resolve(url, endpoint)
        for addr in map(_unmapped, addresses):
            reason = self._refusal(addr, nets)
            if reason is not None:
                where = f"it is {reason}" if endpoint.address is not None else f"it resolves to {addr}, {reason}"
                raise _refuse(url, where, self._hint(endpoint.host, addr, reason))
        return endpoint.url

    def _refusal(self, addr: Address, nets: list[Any]) -> str | None:
        """Why ``addr`` (unmapped; or an IPv4 address inside it) is refused under this policy, or None."""
        if any(addr in net for net in nets):
            return None
        lifted = (_PRIVATE_REASON, _SHARED_REASON) if self.allow_private else ()
        for candidate in [addr, *_embedded(addr)]:
            if candidate is not addr and any(candidate in net for net in nets):
                continue
            reason = _reason(candidate)
            if reason is not None and reason not in lifted:
                return reason if candidate is addr else f"{reason} ({candidate}, inside {addr})"
        return None

    def _hint(self, host: str, addr: Address | None, reason: str | None = None) -> str:
        ways = [f"add {host!r} to the egress policy's allowed_hosts"]
        if addr is not None:
            ways.append(f"a network containing {addr} to allowed_networks")
        if reason in (_PRIVATE_REASON, _SHARED_REASON):
            ways.append("set allow_private: true")
        return "If the router should contact it, " + ", or ".join(ways) + "."

    def _resolve(self, url: str, endpoint: Endpoint) -> list[Address]:
        """Every address of the endpoint's host name, within ``resolve_timeout_s``."""
        found: list[Any] = []
        failed: list[BaseException] = []

        def run() -> None:
            try:
                found.extend(socket.getaddrinfo(endpoint.host, endpoint.port or 80, type=socket.SOCK_STREAM))
            except (OSError, UnicodeError) as exc:
                failed.append(exc)

        worker = threading.Thread(target=run, name="lf-egress-resolve", daemon=True)
        worker.start()
        worker.join(self.resolve_timeout_s)
        if worker.is_alive():
            raise _refuse(url, f"host {endpoint.host!r} did not resolve within {self.resolve_timeout_s:g} s")
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in list(found)}
        if failed or not addresses:
            detail = f" ({failed[0]})" if failed else ""
            raise _refuse(url, f"host {endpoint.host!r} does not resolve{detail}", "Check the name, or use an address.")
        return sorted(addresses, key=lambda a: (a.version, int(a)))
