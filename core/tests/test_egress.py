"""EgressPolicy: which endpoint URLs a router may contact (spellings, tricks, resolution, allow lists)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from lf.errors import ConfigError
from lf.experts import ExpertConfig
from lf.experts.egress import EgressPolicy, EgressRefusedError, hosts_of, normalize_host, split_endpoint

#: What the fake DNS answers (host name -> addresses).
DNS = {
    "api.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "intranet.corp": ["10.1.2.3"],
    "cgnat.corp": ["100.64.1.1"],
    "rebind.example": ["93.184.216.34", "169.254.169.254"],  # one bad address among good ones
    "v6meta.example": ["fd00:ec2::254"],
    "mapped.example": ["::ffff:10.0.0.1"],
    "scoped.example": ["fe80::1%2"],
}


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """socket.getaddrinfo answers from DNS; other names do not resolve. Yields the names asked."""
    asked: list[str] = []

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        if host not in DNS:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for a in DNS[host]:
            family = socket.AF_INET6 if ":" in a else socket.AF_INET
            out.append((family, socket.SOCK_STREAM, 6, "", (a, port)))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield asked


def refused(policy: EgressPolicy, url: str, *words: str) -> EgressRefusedError:
    with pytest.raises(EgressRefusedError) as info:
        policy.check(url)
    text = str(info.value)
    for word in words:
        assert word in text, text
    assert isinstance(info.value, ConfigError) and info.value.exit_code == 3 and info.value.http_status == 400
    return info.value


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("http://127.0.0.1:8001/v1/", "http://127.0.0.1:8001/v1"),
        ("HTTPS://127.0.0.1//v1//chat/", "https://127.0.0.1/v1/chat"),
        ("http://127.0.0.1:08001", "http://127.0.0.1:8001"),
        ("http://127.9.9.9.", "http://127.9.9.9"),  # trailing dot
        ("http://[::1]:9000/", "http://[::1]:9000"),
        ("http://[0:0:0:0:0:0:0:1]", "http://[::1]"),
        ("http://[::ffff:127.0.0.1]:1", "http://[::ffff:7f00:1]:1"),  # IPv4-mapped loopback
        ("http://8.8.8.8/v1", "http://8.8.8.8/v1"),  # public
        ("http://[2606:4700:4700::1111]:443", "http://[2606:4700:4700::1111]:443"),
    ],
)
def test_allowed_and_normalized(url: str, normalized: str) -> None:
    assert EgressPolicy().check(url) == normalized


def test_localhost_resolves_for_real_and_is_allowed() -> None:
    assert EgressPolicy().check("http://LOCALHOST.:8001/v1/") == "http://localhost:8001/v1"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://169.254.169.254./", "cloud metadata"),  # trailing dot
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata"),  # IPv4-mapped IPv6
        ("http://[::ffff:a9fe:a9fe]/", "cloud metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "169.254.169.254, inside 64:ff9b::a9fe:a9fe"),  # NAT64
        ("http://[2002:a9fe:a9fe::1]/", "169.254.169.254, inside"),  # 6to4
        ("http://169.254.1.1:80", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://10.0.0.1/", "private-network"),
        ("http://172.16.5.4/", "private-network"),
        ("http://192.168.1.1:8080", "private-network"),
        ("http://[fd12:3456::1]/", "private-network"),
        ("http://[::ffff:10.0.0.1]/", "private-network"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://[::]:8000/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://255.255.255.255/", "reserved"),
        ("http://192.0.2.1/", "reserved"),  # documentation range
    ],
)
def test_special_addresses_are_refused_by_default(url: str, why: str) -> None:
    error = refused(EgressPolicy(), url, why, "refused")
    assert "allowed_hosts" in (error.hint or "")


@pytest.mark.parametrize(
    ("url", "meant"),
    [
        ("http://2852039166/", "169.254.169.254"),  # decimal
        ("http://0xa9fea9fe/", "169.254.169.254"),  # hex
        ("http://0xA9FEA9FE/", "169.254.169.254"),  # upper case hex
        ("http://0x7f.1/", "127.0.0.1"),  # hex and a short form
        ("http://0251.0376.0251.0376/", "169.254.169.254"),  # octal
        ("http://010.0.0.1/", "8.0.0.1"),  # leading zero: octal to some programs
        ("http://127.1/", "127.0.0.1"),
        ("http://169.254.43518/", "169.254.169.254"),
    ],
)
def test_non_standard_address_spellings_are_refused(url: str, meant: str) -> None:
    refused(EgressPolicy(), url, "not a standard IP address", meant, "four decimal numbers")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://127.0.0.1/", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("127.0.0.1:8000", "only http and https"),
        ("http:/127.0.0.1/", "no host"),
        ("http://", "no host"),
        ("http://:80/", "no host"),
        ("http://user:pw@127.0.0.1/", "user name or password"),
        ("http://169.254.169.254@127.0.0.1/", "user name or password"),
        ("http://127.0.0.1?@169.254.169.254/", "a query"),
        ("http://127.0.0.1/v1?key=1", "a query"),
        ("http://127.0.0.1#@169.254.169.254/", "a fragment"),
        ("http://127.0.0.1/#", "a fragment"),
        ("http://127.0.0.1\\@169.254.169.254/", "a backslash"),
        ("http://%31%32%37.0.0.1/", "percent-encoding"),
        ("http://127.0.0.1/%2e%2e/admin", "percent-encoding"),
        ("http://127.0.0.1/a/../b", "'..' segment"),
        ("http://127.0.0.1/./b", "'.' segment"),
        ("http://127.0.0.1/a b", "whitespace"),
        ("http://127.0.0.1/\x00", "control"),
        ("http://exämple.com/", "non-ASCII"),
        ("http://127.0.0.1:0/", "port '0'"),
        ("http://127.0.0.1:65536/", "port '65536'"),
        ("http://127.0.0.1:80:80/", "port '80:80'"),
        ("http://127.0.0.1:http/", "port 'http'"),
        ("http://[::1/", "[address]"),
        ("http://[::1]x/", "[address]"),
        ("http://[not:v6]/", "not an IPv6 address"),
        ("http://[fe80::1%25eth0]/", "percent-encoding"),  # zone id
        ("http://bad..name/", "not a valid host name"),
        ("http://-bad.example/", "not a valid host name"),
        ("http://host.123/", "not a standard IP address"),  # numeric last label
        ("http://127.0.0.1/a|b", "characters a URL path may not hold"),
    ],
)
def test_url_tricks_are_refused(url: str, why: str) -> None:
    refused(EgressPolicy(allow_private=True, allowed_networks=["0.0.0.0/0", "::/0"]), url, why)


def test_messages_never_repeat_credentials_or_queries() -> None:
    text = str(refused(EgressPolicy(), "http://admin:hunter2@127.0.0.1/v1?api_key=sk-123"))
    assert "hunter2" not in text and "sk-123" not in text and "admin" not in text


def test_names_are_resolved_and_every_address_checked(dns: list[str]) -> None:
    policy = EgressPolicy()
    assert policy.check("https://API.example.com./v1/") == "https://api.example.com/v1"
    refused(policy, "http://rebind.example/", "resolves to 169.254.169.254", "cloud metadata")
    refused(policy, "http://intranet.corp:8000/", "resolves to 10.1.2.3", "private-network", "allow_private")
    refused(policy, "http://cgnat.corp/", "carrier-grade NAT")
    refused(policy, "http://v6meta.example/", "fd00:ec2::254")
    refused(policy, "http://mapped.example/", "private-network")
    refused(policy, "http://scoped.example/", "fe80::1", "link-local")
    refused(policy, "http://nowhere.invalid/", "does not resolve")
    assert EgressPolicy(allow_private=True).check("http://intranet.corp:8000") == "http://intranet.corp:8000"
    assert EgressPolicy(allow_private=True).check("http://mapped.example") == "http://mapped.example"
    refused(EgressPolicy(allow_private=True), "http://rebind.example/", "cloud metadata")  # not lifted


def test_metadata_host_names_are_refused_without_resolving(dns: list[str]) -> None:
    for host in ("metadata.google.internal", "METADATA.GOOGLE.INTERNAL.", "metadata", "metadata.goog"):
        refused(EgressPolicy(allow_private=True), f"http://{host}/computeMetadata/v1", "cloud metadata service")
    assert dns == []
    allowed = EgressPolicy(allowed_hosts=["metadata.google.internal"])
    assert allowed.check("http://metadata.google.internal/") == "http://metadata.google.internal"


def test_explicit_hosts_and_networks_lift_the_rules(dns: list[str]) -> None:
    assert EgressPolicy(allowed_networks=["10.1.0.0/16"]).check("http://intranet.corp") == "http://intranet.corp"
    refused(EgressPolicy(allowed_networks=["10.2.0.0/16"]), "http://intranet.corp", "private-network")
    assert EgressPolicy(allowed_hosts=["Intranet.Corp."]).check("http://intranet.corp:1") == "http://intranet.corp:1"
    assert EgressPolicy(allowed_hosts=["unresolvable.local"]).check("http://unresolvable.local") == (
        "http://unresolvable.local"  # an allowed name is not resolved
    )
    assert EgressPolicy(allowed_hosts=["10.1.2.3"]).check("http://intranet.corp") == "http://intranet.corp"
    assert EgressPolicy(allowed_hosts=["[FE80::1]"]).check("http://[fe80::1]:5/") == "http://[fe80::1]:5"
    meta = EgressPolicy(allowed_networks=["169.254.169.254/32"])
    assert meta.check("http://169.254.169.254") == "http://169.254.169.254"
    assert meta.check("http://[::ffff:169.254.169.254]") == "http://[::ffff:a9fe:a9fe]"  # the same address
    assert EgressPolicy(allowed_networks=["64:ff9b::/96"]).check("http://[64:ff9b::a9fe:a9fe]")
    # private allowed does not allow link-local, metadata or reserved
    for url in ("http://169.254.1.1", "http://169.254.169.254", "http://240.0.0.1", "http://0.0.0.0"):
        refused(EgressPolicy(allow_private=True), url)


def test_resolution_is_bounded_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    calls: list[str] = []

    def hang(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        calls.append(host)
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "timed out")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    try:
        refused(EgressPolicy(resolve_timeout_s=0.1), "http://slow.example/", "did not resolve within 0.1 s")
    finally:
        release.set()
    assert calls == ["slow.example"]


def test_policy_config_and_helpers() -> None:
    with pytest.raises(ValueError, match="CIDR"):
        EgressPolicy(allowed_networks=["10.0.0.0/33"])
    with pytest.raises(msgspec.ValidationError, match="CIDR"):
        msgspec.convert({"allowed_networks": ["nope"]}, EgressPolicy)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"allow_privat": True}, EgressPolicy)
    policy = msgspec.convert({"allowed_hosts": ["a"], "allow_private": True}, EgressPolicy)
    wider = policy.with_hosts(["b", "a"])
    assert wider.allowed_hosts == ["a", "b"] and wider.allow_private and policy.allowed_hosts == ["a"]
    assert normalize_host("[::FFFF:7F00:1]") == "::ffff:7f00:1" and normalize_host("Host.Example.") == "host.example"
    endpoint = split_endpoint("HTTP://Host.Example:80//v1/")
    assert (endpoint.scheme, endpoint.host, endpoint.port, endpoint.path) == ("http", "host.example", 80, "/v1")
    assert endpoint.address is None and endpoint.url == "http://host.example:80/v1"


def test_hosts_of_a_registry() -> None:
    experts = [
        ExpertConfig.from_dict({"name": "a", "endpoints": ["http://10.0.0.5:8001", "http://Node-B.corp.:8002/v1"]}),
        ExpertConfig.from_dict({"name": "b", "endpoint": "http://[FD00::5]:8003"}),
        ExpertConfig.from_dict({"name": "c", "endpoint": "http://10.0.0.5:9000"}),
        ExpertConfig.from_dict({"name": "d", "endpoint": "http://0x7f.1:9000"}),  # refused by split_endpoint
        ExpertConfig.from_dict({"name": "e"}),
    ]
    assert hosts_of(experts) == ["10.0.0.5", "fd00::5", "node-b.corp"]
    policy = EgressPolicy().with_hosts(hosts_of(experts))
    assert policy.check("http://10.0.0.5:8009/v1") == "http://10.0.0.5:8009/v1"
    assert policy.check("http://[fd00::5]:1") == "http://[fd00::5]:1"
    refused(policy, "http://10.0.0.6/", "private-network")
