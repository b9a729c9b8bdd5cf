"""``lf serve router``: the requirements' command for the router service (``lf run route --plugin NAME``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def router(
    host: str | None = typer.Option(None, "--host", help="Address to listen on [default: 127.0.0.1]."),
    port: int | None = typer.Option(None, "--port", help="TCP port [default: 8080]."),
    registry: str | None = typer.Option(
        None,
        "--registry",
        "-r",
        help="The expert registry YAML (default: $LF_EXPERTS_FILE, else ~/.cache/largeforge/experts.yaml); "
        "'builtin' for the shipped experts.",
    ),
    classifier: str = typer.Option(
        "hybrid",
        "--classifier",
        help="How queries are classified: keyword, neural, hybrid or any installed classifier (see `lf plugins`).",
    ),
    balancing: str | None = typer.Option(
        None,
        "--balancing",
        help="How a replica is chosen: round_robin, least_connections, latency or weighted [default: round_robin].",
    ),
    fallback_expert: str | None = typer.Option(
        None, "--fallback-expert", help="The expert that answers when no other fits or is reachable [default: general]."
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML or JSON config file (router.yaml)."),
    set_: list[str] | None = typer.Option(
        None,
        "--set",
        "-s",
        help="Override one option of the router or of the classifier, e.g. --set breaker.failure_threshold=5.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Run every check, print the resolved config and exit."),
) -> None:
    """Start the expert router: an OpenAI-compatible API that sends each request to the right expert.

    Same as `lf run route --plugin CLASSIFIER`. The options are the router's (address,
    keys, limits, balancing, retries...) and the classifier's own, side by side:
    `lf config show route CLASSIFIER` lists both. API keys come from api_keys in the config,
    LF_<CLASSIFIER>_API_KEYS (e.g. LF_HYBRID_API_KEYS=key1,key2) or LARGEFORGE_API_KEY.

    Example: LF_EXPERTS_FILE=experts.yaml lf serve router --host 0.0.0.0 --port 8080
    """
    from lf.plugin_api import execute

    values = {
        "host": host,
        "port": port,
        "registry": registry,
        "balancing": balancing,
        "fallback_expert": fallback_expert,
    }
    flags: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    execute("route", classifier, config=config, overrides=list(set_ or []), flags=flags, dry_run=dry_run)
