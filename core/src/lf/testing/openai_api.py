"""``check_openai_api``: the API checks every serving backend must pass, with the ``openai`` client.

A backend plugin's tests start a real server (``lf run serve --plugin NAME`` or
``create_app`` + :func:`lf.testing.running_server`) and call::

    check_openai_api(url, model="tiny", api_key=None)

It drives chat and text completions, streamed and not, sync and async, with
``include_usage`` and stop strings, checks the error shape for bad requests and an
unknown model, and parses ``/metrics`` with prometheus_client. It returns what it
measured so a test can add backend-specific assertions.
"""

from __future__ import annotations

import asyncio
from typing import Any


def check_openai_api(url: str, model: str, *, api_key: str | None = None, max_tokens: int = 8) -> dict[str, Any]:
    """Run the shared checks against the server at ``url`` serving ``model``; raises AssertionError."""
    import openai

    client: Any = openai.OpenAI(base_url=f"{url}/v1", api_key=api_key or "none", max_retries=0, timeout=120)
    ids = [m.id for m in client.models.list()]
    assert model in ids, f"{model} not in /v1/models: {ids}"
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    chat = _check_chat(client, model, messages, max_tokens)
    text = _check_text(client, model, max_tokens)
    _check_streams(client, model, messages, max_tokens, chat, text)
    _check_stop_strings(client, model, max_tokens, text.choices[0].text)
    answers = asyncio.run(_concurrent(url, model, messages, max_tokens, api_key))
    assert answers == [chat.choices[0].message.content] * 4
    _check_errors(client, url, model, messages, max_tokens, api_key)
    families, health = _check_ops(url)
    answer = chat.choices[0].message.content
    return {"chat": answer, "text": text.choices[0].text, "metrics": families, "health": health}


def _check_chat(client: Any, model: str, messages: list[dict[str, str]], max_tokens: int) -> Any:
    chat = client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0)
    choice = chat.choices[0]
    assert choice.finish_reason in ("stop", "length") and isinstance(choice.message.content, str)
    assert chat.usage is not None and chat.usage.completion_tokens >= 1 and chat.usage.prompt_tokens >= 1
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
    if choice.finish_reason == "length":
        assert chat.usage.completion_tokens == max_tokens
    return chat


def _check_text(client: Any, model: str, max_tokens: int) -> Any:
    text = client.completions.create(model=model, prompt="Once upon a time", max_tokens=max_tokens, temperature=0)
    assert text.object == "text_completion" and isinstance(text.choices[0].text, str)
    assert text.usage is not None and 1 <= text.usage.completion_tokens <= max_tokens
    return text


def _check_streams(
    client: Any, model: str, messages: list[dict[str, str]], max_tokens: int, chat: Any, text: Any
) -> None:
    """Streamed answers equal the whole ones; the usage chunk comes last."""
    choice = chat.choices[0]
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == choice.message.content, (streamed, choice.message.content)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == chat.usage.completion_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == choice.finish_reason
    pieces = client.completions.create(
        model=model, prompt="Once upon a time", max_tokens=max_tokens, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in pieces if c.choices) == text.choices[0].text


def _check_stop_strings(client: Any, model: str, max_tokens: int, full: str) -> None:
    """Stop strings are removed from the text and end generation with finish_reason "stop"."""
    if len(full.strip()) <= 2:
        return
    stop = full.strip()[1:3]
    cut = client.completions.create(
        model=model, prompt="Once upon a time", max_tokens=max_tokens, temperature=0, stop=[stop]
    )
    assert stop not in cut.choices[0].text and cut.choices[0].finish_reason == "stop"
    assert full.startswith(cut.choices[0].text)


async def _concurrent(
    url: str, model: str, messages: list[dict[str, str]], max_tokens: int, api_key: str | None
) -> list[str]:
    import openai

    aclient: Any = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=api_key or "none", max_retries=0, timeout=120)
    try:
        answers = await asyncio.gather(
            *(
                aclient.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0)
                for _ in range(4)
            )
        )
        return [a.choices[0].message.content or "" for a in answers]
    finally:
        await aclient.close()


def _check_errors(
    client: Any, url: str, model: str, messages: list[dict[str, str]], max_tokens: int, api_key: str | None
) -> None:
    """Bad values, unknown models, unsupported parameters and malformed bodies: 4xx in OpenAI's shape."""
    import httpx
    import openai

    for kwargs, status in (
        ({"max_tokens": 0}, 400),
        ({"temperature": 2.5}, 400),
        ({"model": "no-such-model"}, 404),
        ({"extra_body": {"response_format": {"type": "json_object"}}}, 400),
    ):
        call = {"model": model, "messages": messages, "max_tokens": max_tokens, **kwargs}
        try:
            client.chat.completions.create(**call)
        except openai.APIStatusError as exc:
            assert exc.status_code == status, (kwargs, exc.status_code)
            assert isinstance(exc.body, dict) and exc.body.get("code") and exc.body.get("message")
        else:
            raise AssertionError(f"{kwargs} was accepted")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    malformed = httpx.post(f"{url}/v1/chat/completions", content=b"{not json", headers=headers)
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "INVALID_REQUEST"


def _check_ops(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    metrics = httpx.get(f"{url}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    for name in ("inference_requests", "inference_latency_seconds", "tokens_generated", "active_requests"):
        assert name in families, f"/metrics lacks {name}"
    health = httpx.get(f"{url}/health").json()
    assert health["status"] in ("healthy", "degraded") and health["uptime"] > 0
    return families, health
