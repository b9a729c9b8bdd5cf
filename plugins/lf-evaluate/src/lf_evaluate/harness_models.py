"""The lm-eval models of ``lf evaluate tasks``: a local model (``HFLM``) or an endpoint (``local-completions``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from lf.components import Events
from lf.errors import ConfigError, ModelNotFoundError, RunError
from lf_evaluate.config import TasksConfig
from lf_evaluate.harness import auth_header


def is_endpoint(model: str) -> bool:
    """Whether ``model`` is an ``http(s)://`` URL (an OpenAI-compatible endpoint)."""
    return model.startswith(("http://", "https://"))


def api_base(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; a URL that has a path keeps it."""
    url = url.rstrip("/")
    parsed = urlparse(url)
    if not parsed.netloc:
        raise ConfigError(f"'{url}' is not an http(s) URL with a host.")
    return url + "/v1" if parsed.path in ("", "/") else url


def build_lm(
    config: TasksConfig, logprob_tasks: list[str], events: Events
) -> tuple[Any, str, Literal["local", "endpoint"]]:
    """``(lm-eval model, label, "local" | "endpoint")`` for ``config.model``."""
    if is_endpoint(config.model):
        lm, label = endpoint_lm(config, logprob_tasks, events)
        return lm, label, "endpoint"
    return local_lm(config, events), _local_label(config.model), "local"


def _local_label(model: str) -> str:
    return Path(model).name if Path(model).expanduser().exists() else model


def local_lm(config: TasksConfig, events: Events) -> Any:
    """lm-eval's ``HFLM`` on the resolved model (shorthands and hub ids work; ``model_revision`` pins a hub one)."""
    import torch
    from lm_eval.models.huggingface import HFLM

    from lf.models import resolve_model

    path = resolve_model(config.model, events=events)
    cuda = torch.cuda.is_available()
    device = config.device if config.device != "auto" else ("cuda" if cuda else "cpu")
    dtype = config.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") and torch.cuda.is_bf16_supported() else "float32"
    events.message(f"loading {config.model} ({path}) on {device}, {dtype}")
    try:
        lm = HFLM(
            pretrained=path,
            revision=config.model_revision or "main",
            device=device,
            dtype=dtype,
            batch_size=config.batch_size,
        )
    except OSError as exc:
        raise ModelNotFoundError(
            f"Cannot load the model {config.model} ({path}): {str(exc)[:300]}",
            hint="Give a model directory (config.json + weights + tokenizer), a shorthand (tiny, smollm2) or a hub id.",
        ) from exc
    # The task's max_gen_toks decides how long an answer may be, not the model's generation_config.
    lm.model.generation_config.max_new_tokens = None
    return lm


def endpoint_lm(config: TasksConfig, logprob_tasks: list[str], events: Events) -> tuple[Any, str]:
    """lm-eval's ``local-completions`` model on ``/v1/completions`` of the endpoint (prompts sent as text)."""
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    base = api_base(config.model)
    headers = auth_header(config.api_key_env)
    served = config.served_model or first_model(base, headers)
    tokenizer = None
    if logprob_tasks:
        check_prompt_logprobs(base, served, headers, logprob_tasks)
        if not config.tokenizer:
            raise ConfigError(
                f"{', '.join(logprob_tasks)}: log-likelihood tasks on an endpoint need the model's tokenizer "
                "(to find where each answer starts in the prompt).",
                hint="Add --tokenizer DIR (the served model's directory, or a shorthand such as smollm2).",
            )
        from lf.models import resolve_model

        tokenizer = resolve_model(config.tokenizer, events=events)
    events.message(f"endpoint {base}, model {served}")
    lm = LocalCompletionsAPI(
        base_url=f"{base}/completions",
        model=served,
        tokenizer_backend="huggingface" if tokenizer else None,
        tokenizer=tokenizer,
        tokenized_requests=False,
        num_concurrent=config.concurrency,
        max_retries=3,
        seed=config.seed,
        header=headers or None,
    )
    return lm, f"{served} @ {base}"


def _client(headers: dict[str, str]) -> Any:
    import httpx

    return httpx.Client(headers=headers, timeout=60.0)


def first_model(base: str, headers: dict[str, str]) -> str:
    """The first model ``GET /v1/models`` lists."""
    import httpx

    try:
        with _client(headers) as client:
            reply = client.get(f"{base}/models")
        reply.raise_for_status()
        models = [m["id"] for m in reply.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise RunError(
            f"Cannot list the models of {base} ({type(exc).__name__}: {str(exc)[:200]}).",
            hint="Check that the server runs and the URL (add --api-key-env VAR when it needs a key), "
            "or name the model with --served-model.",
        ) from exc
    if not models:
        raise RunError(f"{base}/models lists no model.", hint="Name the model with --served-model.")
    return str(models[0])


def check_prompt_logprobs(base: str, served: str, headers: dict[str, str], tasks: list[str]) -> None:
    """Refuse early when the endpoint cannot score prompts (``echo`` + ``logprobs`` on ``/v1/completions``)."""
    import httpx

    body = {"model": served, "prompt": "The sky is", "max_tokens": 1, "temperature": 0, "echo": True, "logprobs": 1}
    try:
        with _client(headers) as client:
            reply = client.post(f"{base}/completions", json=body)
        ok = reply.status_code == 200 and bool(reply.json()["choices"][0]["logprobs"]["token_logprobs"])
        why = "" if ok else f"it answered HTTP {reply.status_code}: {reply.text[:200]}"
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        ok, why = False, f"{type(exc).__name__}: {str(exc)[:200]}"
    if not ok:
        raise ConfigError(
            f"{', '.join(tasks)} score answers by log-likelihood, which needs the prompt's log-probabilities "
            f"(echo + logprobs on /v1/completions); {base} does not give them ({why}).",
            hint="Run these tasks on the model directory (lf evaluate tasks DIR ...), against a server that returns "
            "prompt log-probabilities (vLLM), or use generative tasks (lf_facts_letter asks lf_facts_mc's questions "
            "generatively).",
        )
