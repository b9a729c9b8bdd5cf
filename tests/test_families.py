"""Issue 18, item 1: Llama-3, Qwen2, Mistral, Gemma-2 and Phi-3 through masking, SFT, DPO, merge and serving.

Each family is a tiny random model of its architecture (``lf.testing.families``) with its own
chat template and stop tokens, read from ``../shared/data/chat_templates`` (MIT). For each:
``lf data preview`` marks the replies and their end-of-turn token (a system message folded
into the first user turn where the family has no system role, a clear error where the template
refuses it); SFT (LoRA) teaches "Four." + end of turn; ``merge_lora`` checks the merged logits;
``lf serve hf`` answers the official ``openai`` client with "Four." and stops on the family's
stop token (finish_reason "stop", well before max_tokens); DPO trains from the SFT output.

The heavy steps run once per module for all families: training and merging in this process,
the servers as parallel ``lf serve hf`` processes (they boot while DPO trains); the previews run
the real ``lf`` command line in this process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lf.testing import free_port, wait_ready
from lf.testing.cli import lf_executable

openai = pytest.importorskip("openai")
pytest.importorskip("trl")

FAMILIES = ["llama3", "qwen2", "mistral", "gemma2", "phi3"]
END_OF_TURN = {
    "llama3": "<|eot_id|>",
    "qwen2": "<|im_end|>",
    "mistral": "</s>",
    "gemma2": "<end_of_turn>",
    "phi3": "<|end|>",
}
QUESTION = "What is two plus two?"
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": QUESTION},
    {"role": "assistant", "content": "Four."},
    {"role": "user", "content": "Name a colour."},
    {"role": "assistant", "content": "Blue."},
]
# The official Gemma-2 template refuses a system message instead of folding it in.
NO_SYSTEM_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\\n' + message['content'] + "
    "'<end_of_turn>\\n' }}{% endfor %}"
)


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread() -> Iterator[None]:
    """One torch thread here and in the servers: on a busy 2-core machine, OpenMP threads waiting for a
    core make these small matrix products many times slower."""
    import torch

    before, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(before)
    if env is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = env


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The five tiny models and the data files."""
    from lf.testing.families import family_model, find_chat_templates

    templates = find_chat_templates(Path(__file__).resolve().parent)
    if templates is None:
        pytest.skip("no chat_templates folder at ../shared/data/chat_templates (or $LF_CHAT_TEMPLATES)")
    root = tmp_path_factory.mktemp("families")
    one_turn = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "Four."}]
    return {
        "root": root,
        "models": {name: family_model(name, root / name, templates) for name in FAMILIES},
        "chat": _write_jsonl(root / "chat.jsonl", [{"messages": CONVERSATION}]),
        "sft": _write_jsonl(root / "sft.jsonl", [{"messages": one_turn}] * 4 + [{"messages": CONVERSATION[:3]}] * 4),
        "dpo": _write_jsonl(
            root / "dpo.jsonl",
            [
                {
                    "prompt": CONVERSATION[:2],
                    "chosen": [{"role": "assistant", "content": "Four."}],
                    "rejected": [{"role": "assistant", "content": "Five."}],
                }
            ]
            * 4,
        ),
    }


def _preview(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``lf data preview ARGS`` through the real command line, in this process (no interpreter start-up)."""
    from lf.cli import main

    with pytest.raises(SystemExit) as info:
        main(["data", "preview", *args])
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


@pytest.mark.parametrize("family", FAMILIES)
def test_preview_trains_each_reply_and_its_end_of_turn_token(family: str, work: dict[str, Any], capsys) -> None:
    code, out, err = _preview(capsys, str(work["chat"]), "--tokenizer", str(work["models"][family]))
    assert code == 0 and "Traceback" not in err, err
    shown = out.split("record 1", 1)[1]
    trained = [segment.strip() for segment in re.findall(r"«(.*?)»", shown, flags=re.S)]
    assert trained == [f"Four.{END_OF_TURN[family]}", f"Blue.{END_OF_TURN[family]}"], out
    untrained = re.sub(r"«.*?»", "", shown, flags=re.S)
    assert "Be brief." in untrained and QUESTION in untrained and "Name a colour." in untrained
    if family == "gemma2":  # no system role: the system text opens the first user turn
        assert "<start_of_turn>user\nBe brief.\n\nWhat is two plus two?" in shown
        assert "system" not in untrained


def test_a_template_without_system_role_is_a_clear_error(work: dict[str, Any], capsys) -> None:
    template = work["root"] / "no-system.jinja"
    template.write_text(NO_SYSTEM_TEMPLATE)
    gemma = str(work["models"]["gemma2"])
    code, _, err = _preview(capsys, str(work["chat"]), "--tokenizer", gemma, "--chat-template", str(template))
    assert code == 4 and "Traceback" not in err
    flat = " ".join(err.split())
    assert "The chat template refused a conversation" in flat and "System role not supported" in flat
    assert "fold the system message into the first user message" in flat


@pytest.fixture(scope="module")
def trained(work: dict[str, Any]) -> dict[str, Any]:
    """A LoRA SFT run per family teaching "Four." and the end of turn (a few seconds each)."""
    from lf.components import NullEvents
    from lf_trainer_sft.config import LoraOptions, SFTConfig
    from lf_trainer_sft.sft import SFTTrainer

    results = {}
    for name in FAMILIES:
        config = SFTConfig(
            model=str(work["models"][name]), data=str(work["sft"]), output_dir=str(work["root"] / f"{name}-sft"),
            method="lora", lora=LoraOptions(r=16, target_modules=["all-linear"]), learning_rate=1e-2,
            lr_scheduler_type="constant", warmup_ratio=0.0, max_steps=20, per_device_train_batch_size=8,
            max_length=192, logging_steps=5, save_steps=0, plot=False,
        )  # fmt: skip
        results[name] = SFTTrainer().run(config, NullEvents())
    return results


@pytest.fixture(scope="module")
def merged(work: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    """Each adapter merged into its base, logits checked against base + adapter."""
    from lf_trainer_sft.merge import merge_lora

    return {
        name: merge_lora(str(work["models"][name]), str(work["root"] / f"{name}-sft"), str(work["root"] / f"{name}-m"))
        for name in FAMILIES
    }


@pytest.fixture(scope="module")
def release_llama3(work: dict[str, Any], merged: dict[str, Any]) -> Path:
    """The merged Llama-3 with the configs Llama-3-Instruct was first released with: EOS <|end_of_text|> only."""
    out = shutil.copytree(work["root"] / "llama3-m", work["root"] / "llama3-release")
    tokenizer = json.loads((out / "tokenizer.json").read_text())
    end_of_text = next(t["id"] for t in tokenizer["added_tokens"] if t["content"] == "<|end_of_text|>")
    for name in ("config.json", "generation_config.json"):
        data = json.loads((out / name).read_text())
        data["eos_token_id"] = end_of_text
        (out / name).write_text(json.dumps(data))
    tok_config = json.loads((out / "tokenizer_config.json").read_text())
    tok_config["eos_token"] = "<|end_of_text|>"
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config))
    return out


@pytest.fixture(scope="module")
def servers(work: dict[str, Any], merged: dict[str, Any], release_llama3: Path) -> Iterator[dict[str, Any]]:
    """``lf serve hf`` for every merged model, started together (each is waited for by its test)."""
    dirs = {name: work["root"] / f"{name}-m" for name in FAMILIES} | {"llama3-release": release_llama3}
    procs = {}
    for name, model_dir in dirs.items():
        port = free_port()
        log = open(work["root"] / f"{name}-serve.log", "w")  # noqa: SIM115 - closed below
        cmd = [lf_executable(), "serve", "hf", "--model", str(model_dir), "--port", str(port)]
        procs[name] = (f"http://127.0.0.1:{port}", subprocess.Popen(cmd, stdout=log, stderr=log), log)
    yield {name: (url, proc) for name, (url, proc, _) in procs.items()}
    for _, proc, log in procs.values():
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


@pytest.mark.parametrize("family", FAMILIES)
def test_sft_learns_the_reply_and_merge_checks_the_logits(family: str, trained: dict, merged: dict) -> None:
    metrics = trained[family].metrics
    assert metrics["last_loss"] < metrics["first_loss"]
    assert "logits match" in merged[family].summary and merged[family].metrics["max_logit_diff"] < 1e-3
    out = Path(merged[family].artifacts["model"])
    assert not (out / "adapter_config.json").exists() and (out / "chat_template.jinja").is_file()


@pytest.mark.parametrize("family", FAMILIES)
def test_dpo_trains_from_the_sft_output(family: str, work: dict[str, Any], trained: dict, servers: dict) -> None:
    # `servers` only starts the servers early: they boot while DPO trains
    from lf.components import NullEvents
    from lf_trainer_dpo.config import DPOConfig
    from lf_trainer_dpo.dpo import DPOTrainer

    config = DPOConfig(
        model=str(work["root"] / f"{family}-sft"), data=str(work["dpo"]),
        output_dir=str(work["root"] / f"{family}-dpo"), method="lora", learning_rate=5e-3, max_steps=4,
        per_device_train_batch_size=4, max_length=192, logging_steps=1, save_steps=0, plot=False,
    )  # fmt: skip
    metrics = DPOTrainer().run(config, NullEvents()).metrics
    assert metrics["last_loss"] < metrics["first_loss"] and metrics["reward_margin"] > 0
    assert (work["root"] / f"{family}-dpo" / "adapter_model.safetensors").is_file()


def _ask(url: str, *, stream: bool) -> tuple[str, str | None, int | None]:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    model = client.models.list().data[0].id
    messages = [{"role": "user", "content": QUESTION}]
    if not stream:
        reply = client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0)
        usage = reply.usage.completion_tokens if reply.usage else None
        return reply.choices[0].message.content or "", reply.choices[0].finish_reason, usage
    text, finish = "", None
    chunks = client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0, stream=True)
    for chunk in chunks:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    return text, finish, None


@pytest.mark.parametrize("family", [*FAMILIES, "llama3-release"])
def test_lf_serve_hf_stops_on_the_family_stop_token(family: str, servers: dict[str, Any]) -> None:
    url, proc = servers[family]
    wait_ready(url, timeout=300, process=proc)
    text, finish, tokens = _ask(url, stream=False)
    assert (text.strip(), finish) == ("Four.", "stop")
    assert tokens is not None and tokens < 8  # stopped at the end of the turn, far from max_tokens=24
    assert _ask(url, stream=True)[:2] == (text, "stop")
