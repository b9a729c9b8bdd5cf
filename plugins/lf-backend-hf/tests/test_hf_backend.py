"""The hf backend behind the real server: the openai client, the real CLI, batching, LoRA, OOM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

import lf_backend_hf
from lf.serve.app import create_app
from lf.testing import check_plugin, free_port, run_cli, running_server, tiny_model, wait_ready
from lf.testing.cli import lf_executable
from lf.testing.openai_api import check_openai_api
from lf_backend_hf.backend import HFBackend
from lf_backend_hf.config import HFConfig

KEY = "test-key-" + "x" * 32
PROMPT_MARK = "capital of France"


@pytest.fixture(scope="module")
def hf_server(tiny_model_dir):
    backend = HFBackend()
    config = HFConfig(model=str(tiny_model_dir), served_model_name="tiny")
    with running_server(create_app(backend, config, backend_name="hf")) as url:
        wait_ready(url)
        yield url, backend


def test_contract():
    assert [s.name for s in check_plugin(lf_backend_hf)] == ["hf"]


def test_openai_api_in_process(hf_server):
    url, _ = hf_server
    result = check_openai_api(url, "tiny", max_tokens=8)
    assert result["health"]["backend"] == "hf"


def test_32_concurrent_streaming_clients_complete_and_are_batched(hf_server):
    url, backend = hf_server
    engine = backend.current.engine
    steps_before = engine.steps

    async def run():
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=300)

        async def one(i: int) -> tuple[str, int]:
            stream = await client.chat.completions.create(
                model="tiny",
                messages=[{"role": "user", "content": f"Tell me a story number {i}"}],
                max_tokens=16,
                temperature=0.8,
                seed=i,
                stream=True,
                stream_options={"include_usage": True},
            )
            text, tokens = "", 0
            async for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                if chunk.usage:
                    tokens = chunk.usage.completion_tokens
            return text, tokens

        try:
            return await asyncio.gather(*(one(i) for i in range(32)))
        finally:
            await client.close()

    results = asyncio.run(run())
    assert len(results) == 32 and all(tokens >= 1 for _, tokens in results)
    total_tokens = sum(tokens for _, tokens in results)
    steps = engine.steps - steps_before
    # One engine step emits one token for every running row: far fewer steps than tokens means batching.
    assert steps < total_tokens / 4, (steps, total_tokens)
    assert backend.status().pending == 0


def test_seeded_sampling_is_reproducible_and_greedy_matches_transformers(hf_server, tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    url, _ = hf_server
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
    a = client.completions.create(model="tiny", prompt="Paris is", max_tokens=10, temperature=1.0, seed=7)
    b = client.completions.create(model="tiny", prompt="Paris is", max_tokens=10, temperature=1.0, seed=7)
    assert a.choices[0].text == b.choices[0].text

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompt = "Write a Python function that sorts a list"
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    expected = model.generate(ids, max_new_tokens=10, do_sample=False, eos_token_id=None, pad_token_id=0)
    reference = tokenizer.decode(expected[0, ids.shape[1] :], skip_special_tokens=True)
    got = client.completions.create(model="tiny", prompt=prompt, max_tokens=10, temperature=0)
    assert got.choices[0].text == reference


def test_disconnect_cancels_the_generation(hf_server):
    url, backend = hf_server
    body = {"model": "tiny", "prompt": "Once upon a time", "max_tokens": 1000, "stream": True, "temperature": 0}
    with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"text"' in line:
                break
    deadline = time.monotonic() + 30
    while backend.status().pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backend.status().pending == 0


def _lora(base: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    for name, param in peft_model.named_parameters():
        if "lora_" in name:
            param.data.normal_(0, 0.5)
    peft_model.save_pretrained(out)
    return out


def test_lora_adapters_selected_by_model_and_hot_swapped(tmp_path, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first = _lora(tiny_model_dir, tmp_path / "first", 1)
    second = _lora(tiny_model_dir, tmp_path / "second", 2)
    config = HFConfig(model=str(tiny_model_dir), served_model_name="tiny", adapters={"first": str(first)})
    backend = HFBackend()
    with running_server(create_app(backend, config, backend_name="hf")) as url:
        wait_ready(url)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        cards = {m.id: m for m in client.models.list()}
        assert set(cards) == {"tiny", "first"} and cards["first"].model_extra["type"] == "lora"
        loaded = httpx.post(f"{url}/admin/adapters/load", json={"name": "second", "path": str(second)})
        assert loaded.status_code == 200, loaded.text

        prompt = "The quick brown fox"

        async def mixed():
            aclient = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
            try:
                answers = await asyncio.gather(
                    *(
                        aclient.completions.create(model=m, prompt=prompt, max_tokens=8, temperature=0)
                        for m in ("tiny", "first", "second", "tiny", "first", "second")
                    )
                )
                return [a.choices[0].text for a in answers]
            finally:
                await aclient.close()

        answers = asyncio.run(mixed())
        tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        expected = {}
        for name, path in (("first", first), ("second", second)):
            model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), path)
            out = model.generate(input_ids=ids, max_new_tokens=8, do_sample=False, eos_token_id=None, pad_token_id=0)
            expected[name] = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        assert answers[1] == answers[4] == expected["first"]
        assert answers[2] == answers[5] == expected["second"]
        assert answers[0] == answers[3] and expected["first"] != expected["second"]

        assert httpx.post(f"{url}/admin/adapters/unload", json={"name": "first"}).status_code == 200
        with pytest.raises(openai.NotFoundError):
            client.completions.create(model="first", prompt=prompt, max_tokens=2)
        assert (
            client.completions.create(model="second", prompt=prompt, max_tokens=8, temperature=0).choices[0].text
            == expected["second"]
        )

        swapped = httpx.post(f"{url}/admin/models/load", json={"path": str(tiny_model_dir), "name": "tiny-2"})
        assert swapped.status_code == 200, swapped.text
        assert [m.id for m in client.models.list()] == ["tiny-2"]
        assert (
            client.completions.create(model="tiny-2", prompt=prompt, max_tokens=8, temperature=0).choices[0].text
            == answers[0]
        )


def test_out_of_memory_fails_the_request_not_the_server(tmp_path):
    model_dir = tiny_model(tmp_path / "long", max_position_embeddings=300_000)
    config = HFConfig(model=str(model_dir), served_model_name="long", attn_implementation="eager")
    with running_server(create_app(HFBackend(), config, backend_name="hf")) as url:
        wait_ready(url)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=120)
        huge = " ".join(["fox"] * 200_000)  # the eager attention mask alone would need ~40 GB
        with pytest.raises(openai.InternalServerError) as oom:
            client.completions.create(model="long", prompt=huge, max_tokens=2)
        assert oom.value.status_code == 503 and oom.value.body["code"] == "MODEL_OVERLOADED"
        assert client.completions.create(model="long", prompt="fox", max_tokens=2).usage.completion_tokens == 2
        assert httpx.get(f"{url}/ready").status_code == 200


def test_smollm2_answers_a_chat_correctly(smollm2_dir):
    config = HFConfig(model=str(smollm2_dir), served_model_name="smollm2")
    with running_server(create_app(HFBackend(), config, backend_name="hf")) as url:
        wait_ready(url)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=120)
        answer = client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=24,
            temperature=0,
        )
        assert "Paris" in answer.choices[0].message.content


def test_real_cli_with_keys_rate_limit_and_clean_logs(tiny_model_dir, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = tmp_path / "server.log"
    cmd = [
        lf_executable(),
        "run",
        "serve",
        "--plugin",
        "hf",
        "--set",
        f"model={tiny_model_dir}",
        "--set",
        f"port={port}",
        "--set",
        f"api_keys=[{KEY}]",
        "--set",
        "limits.rate_limit_per_minute=60",
        "--set",
        "limits.rate_limit_burst=40",
    ]
    with open(log_file, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
    try:
        wait_ready(url, process=proc)
        name = tiny_model_dir.name
        check_openai_api(url, name, api_key=KEY, max_tokens=6)
        messages = [{"role": "user", "content": f"What is the {PROMPT_MARK}?"}]
        body = {"model": name, "messages": messages, "max_tokens": 2}
        assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 401
        wrong = {"Authorization": "Bearer " + "y" * 40}
        assert httpx.post(f"{url}/v1/chat/completions", json=body, headers=wrong).status_code == 401
        statuses = [httpx.get(f"{url}/v1/models", headers={"X-API-Key": KEY}).status_code for _ in range(80)]
        assert 429 in statuses
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    logs = log_file.read_text()
    access = [json.loads(line) for line in logs.splitlines() if line.startswith("{") and '"lf.serve.access"' in line]
    assert {e["context"]["status"] for e in access} >= {200, 400, 401, 404, 429}
    assert PROMPT_MARK not in logs and KEY not in logs and "y" * 40 not in logs
    assert "Traceback" not in logs
    assert "Loading weights" not in logs  # no library progress bar in a server's log


def test_friendly_commands_resolve_the_same_config(tiny_model_dir):
    a = run_cli("serve", "hf", "--model", str(tiny_model_dir), "--port", "8123", "--dry-run")
    b = run_cli("serve", "inference", "--backend", "hf", "--model", str(tiny_model_dir), "--port", "8123", "--dry-run")
    c = run_cli("run", "serve", "--plugin", "hf", "--set", f"model={tiny_model_dir}", "--set", "port=8123", "--dry-run")
    assert a.returncode == b.returncode == c.returncode == 0, a.stderr + b.stderr + c.stderr
    assert a.stdout == b.stdout == c.stdout and "port: 8123" in a.stdout


def test_cli_refuses_bad_setups_before_loading(tiny_model_dir, tmp_path):
    exposed = run_cli("run", "serve", "--plugin", "hf", "--set", f"model={tiny_model_dir}", "--set", "host=0.0.0.0")
    assert exposed.returncode == 3 and "without an API key" in exposed.stderr
    short = run_cli("run", "serve", "--plugin", "hf", "--set", f"model={tiny_model_dir}", "--set", "api_keys=[short]")
    assert short.returncode == 3 and "at least 32" in short.stderr
    missing = run_cli("run", "serve", "--plugin", "hf", "--set", f"model={tmp_path / 'nope'}")
    assert missing.returncode == 3 and "not a directory" in missing.stderr
    assert "Traceback" not in exposed.stderr + short.stderr + missing.stderr
    assert sys.executable


def test_cli_exits_with_the_load_error_when_the_model_cannot_load(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
    result = run_cli(
        "run", "serve", "--plugin", "hf", "--set", f"model={broken}", "--set", f"port={free_port()}", timeout=180
    )
    assert result.returncode == 7, result.stderr
    assert "failed to load the model" in result.stderr and "Traceback" not in result.stderr
