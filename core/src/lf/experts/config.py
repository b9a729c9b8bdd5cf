r"""What an expert is: :class:`ExpertConfig` and its replicas, as stored in the registry YAML.

The file has the requirements' shape (SRS 6.1.3)::

    experts:
      - name: code
        description: Specialized in code generation and review
        domains: [programming, debugging]
        keywords: [code, function, debug, "linked list", "python^2", "/\\bdef \\w+\\(/"]
        examples: ["How do I reverse a linked list in Python?"]
        model_path: ./models/code-expert        # or base_model + adapter_path
        endpoint: http://localhost:8001         # one replica; or `endpoints:` for several
        priority: 1

``endpoint: URL`` and ``endpoints: [URL, {url: URL, weight: 2}]`` are both accepted; a
single replica of weight 1 is written back as ``endpoint:``. Only msgspec and the standard
library are imported here (and ``regex``, on the first regular-expression keyword).

Every rule is checked when an expert is decoded (:meth:`ExpertConfig.from_dict`, the
registry file, a router's ``POST /experts``); :func:`validate_expert` checks one built in
code (msgspec checks field constraints such as the name pattern only when decoding).
Keywords follow :mod:`lf.experts.keywords`: a ``/regex/`` must compile and stay within its
limits.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from lf.experts.keywords import keyword_problem

#: Expert names: what a client sends as ``model`` and what the CLI takes.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")


class Replica(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True, frozen=True):
    """One server that answers for an expert (an OpenAI-compatible base URL)."""

    url: Annotated[str, msgspec.Meta(description="Base URL, e.g. http://10.0.0.5:8001")]
    weight: Annotated[float, msgspec.Meta(gt=0, description="Share of traffic under weighted balancing")] = 1.0


class ExpertConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True, frozen=True):
    """One expert model: what it is good at (for routing) and where it runs (for forwarding)."""

    name: Annotated[str, msgspec.Meta(pattern=NAME_PATTERN, description="Unique name (letters, digits, . _ -)")]
    description: Annotated[str, msgspec.Meta(description="What the expert is good at, in a sentence")] = ""
    domains: Annotated[list[str], msgspec.Meta(description="Domains it covers (list_experts(domain=...))")] = []
    keywords: Annotated[
        list[str],
        msgspec.Meta(description="Words or phrases; 'word^2' weighs 2, '/regex/' is a regular expression"),
    ] = []
    examples: Annotated[list[str], msgspec.Meta(description="Example queries it should receive")] = []
    model_path: Annotated[str | None, msgspec.Meta(description="A merged model directory or hub id")] = None
    base_model: Annotated[str | None, msgspec.Meta(description="Base model, when serving an adapter")] = None
    adapter_path: Annotated[str | None, msgspec.Meta(description="LoRA adapter on top of base_model")] = None
    quantization: Annotated[str | None, msgspec.Meta(description="awq, gptq, nf4, int8, ... or none")] = None
    endpoints: Annotated[list[Replica], msgspec.Meta(description="Replicas serving it (OpenAI-compatible)")] = []
    priority: Annotated[int, msgspec.Meta(description="Higher wins ties and sorts first")] = 0
    max_tokens: Annotated[int, msgspec.Meta(ge=1, description="Default max_tokens of its requests")] = 2048
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2, description="Default sampling temperature")] = 0.7
    enabled: Annotated[bool, msgspec.Meta(description="Disabled experts are kept but never routed to")] = True
    version: Annotated[int, msgspec.Meta(ge=1, description="Raised by one at every change")] = 1
    updated_at: Annotated[str | None, msgspec.Meta(description="UTC time of the last change (ISO 8601)")] = None

    def __post_init__(self) -> None:
        if self.adapter_path and not self.base_model and not self.model_path:
            raise ValueError("adapter_path needs base_model (the model the adapter was trained on)")
        if self.model_path and self.base_model:
            raise ValueError("give either model_path or base_model (+ adapter_path), not both")
        for replica in self.endpoints:
            problem = url_problem(replica.url)
            if problem:
                raise ValueError(problem)
        for raw in self.keywords:
            problem = keyword_problem(raw)
            if problem:
                raise ValueError(problem)
        urls = [r.url.rstrip("/") for r in self.endpoints]
        if len(set(urls)) != len(urls):
            raise ValueError("the same endpoint is listed twice")

    @property
    def urls(self) -> list[str]:
        """The replicas' base URLs, in order."""
        return [r.url for r in self.endpoints]

    @property
    def endpoint(self) -> str | None:
        """The first replica's URL (the requirements' single ``endpoint``), or None."""
        return self.endpoints[0].url if self.endpoints else None

    def to_dict(self) -> dict[str, Any]:
        """The YAML shape: defaults left out, one replica of weight 1 as ``endpoint``."""
        data: dict[str, Any] = {}
        for f in msgspec.structs.fields(self):
            value = getattr(self, f.name)
            default = f.default if f.default is not msgspec.NODEFAULT else msgspec.NODEFAULT
            if f.default_factory is not msgspec.NODEFAULT:
                default = f.default_factory()
            if f.required or value != default:
                data[f.name] = msgspec.to_builtins(value)
        eps = data.pop("endpoints", None)
        if eps:
            plain = [e["url"] if set(e) == {"url"} else e for e in eps]
            if len(plain) == 1 and isinstance(plain[0], str):
                data["endpoint"] = plain[0]
            else:
                data["endpoints"] = plain
        return _ordered(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "the expert", text: str | None = None) -> ExpertConfig:
        """Decode one expert (``endpoint`` or ``endpoints``); errors are :class:`lf.errors.ConfigError`."""
        try:
            normalized = normalize_expert(data)
        except ValueError as exc:
            from lf.errors import ConfigError

            raise ConfigError(f"{source}: {exc}") from None
        return decode_experts([normalized], source=source, text=text)[0]

    def to_json(self) -> dict[str, Any]:
        """Every field as plain JSON data (``endpoints`` always a list of ``{url, weight}``)."""
        out: dict[str, Any] = {f: getattr(self, f) for f in self.__struct_fields__}
        out["endpoints"] = [{"url": r.url, "weight": r.weight} for r in self.endpoints]
        return msgspec.to_builtins(out)


def url_problem(url: str) -> str | None:
    """What is wrong with an endpoint URL as the registry stores it, or None.

    An http(s) URL with a host and no user name or password, query or fragment (the
    message never repeats those parts). Which hosts a router may contact is a separate,
    stricter check: :class:`lf.experts.egress.EgressPolicy`.
    """
    base = re.split(r"[?#]", url, maxsplit=1)[0]
    authority = base.partition("://")[2].partition("/")[0]
    shown = f"{base.partition('://')[0]}://***@{authority.rpartition('@')[2]}" if "@" in authority else base
    if "@" in authority:
        return f"endpoint {shown!r} has a user name or password (user@host); credentials do not belong in a URL"
    if "?" in url or "#" in url:
        part = "a query (?...)" if "?" in url and url.index("?") == len(base) else "a fragment (#...)"
        return f"endpoint {shown!r} has {part}; give the server's base URL only, e.g. http://127.0.0.1:8001/v1"
    if not _URL_RE.match(url):
        return f"endpoint {url!r} is not an http(s) URL such as http://127.0.0.1:8001"
    return None


def validate_expert(expert: ExpertConfig, *, source: str = "the expert") -> ExpertConfig:
    """``expert`` checked by every rule of the registry file; :class:`lf.errors.ConfigError` if one fails.

    An :class:`ExpertConfig` built in code skips msgspec's field constraints (name pattern,
    ranges), and its lists may have been changed since; this decodes it again.
    """
    return decode_experts([msgspec.to_builtins(expert)], source=source)[0]


class _Experts(msgspec.Struct, forbid_unknown_fields=True):
    experts: list[ExpertConfig]


def decode_experts(items: list[Any], *, source: str, text: str | None = None) -> list[ExpertConfig]:
    """Decode normalized expert mappings; errors are :class:`lf.errors.ConfigError` with field and line.

    ``text`` is the YAML document ``{"experts": items}`` came from (for line numbers).
    """
    from lf.config import convert
    from lf.errors import ConfigError

    try:
        return convert({"experts": items}, _Experts, source=source, text=text).experts
    except ConfigError as exc:
        raw = str(exc.details.get("error", ""))
        if raw[:1].isupper() or " - at `" not in raw:  # a msgspec type error: its message is fine
            if raw.startswith("Object contains unknown field"):
                fields = [*ExpertConfig.__struct_fields__, "endpoint"]
                exc.hint = f"An expert's options are: {', '.join(sorted(fields))}."
            if text is None:  # a single expert: "experts.0.temperature" -> "temperature"
                exc.message = exc.message.replace("'experts.0.", "'").replace("'experts.0'", "'(top level)'")
            raise
        # a check of ExpertConfig.__post_init__: say it plainly, without the whole mapping
        problem = raw.split(" - at `")[0]
        where = exc.message.split(": ", 1)[0]
        item = re.search(r"\[(\d+)\]", raw)
        name = items[int(item.group(1))].get("name") if item and isinstance(items[int(item.group(1))], dict) else None
        raise ConfigError(f"{where}: expert {name!r}: {problem}", hint=exc.hint, details=exc.details) from None


#: Key order in the written file: identity, routing, model, serving, bookkeeping.
_ORDER = (
    "name",
    "description",
    "domains",
    "keywords",
    "examples",
    "model_path",
    "base_model",
    "adapter_path",
    "quantization",
    "endpoint",
    "endpoints",
    "priority",
    "max_tokens",
    "temperature",
    "enabled",
    "version",
    "updated_at",
)


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    rank = {k: i for i, k in enumerate(_ORDER)}
    return dict(sorted(data.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def normalize_expert(data: Any) -> Any:
    """Map the accepted spellings onto the Struct: ``endpoint: URL`` and string replicas."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    if "endpoint" in out:
        if "endpoints" in out:
            raise ValueError("give either 'endpoint' or 'endpoints', not both")
        single = out.pop("endpoint")
        out["endpoints"] = [] if single in (None, "") else [single]
    eps = out.get("endpoints")
    if isinstance(eps, str):
        eps = [eps]
    if isinstance(eps, list):
        out["endpoints"] = [{"url": e} if isinstance(e, str) else e for e in eps]
    return out


def split_list(values: list[str] | None) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (CLI options that take comma lists), blanks dropped."""
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def same_definition(a: ExpertConfig, b: ExpertConfig) -> bool:
    """Equal apart from the bookkeeping fields (``version``, ``updated_at``)."""
    return msgspec.structs.replace(a, version=1, updated_at=None) == msgspec.structs.replace(
        b, version=1, updated_at=None
    )
