"""The public test kit works as documented: tiny model, server helper, contract checks."""

from __future__ import annotations

import msgspec
import pytest

from lf.components import ComponentSpec
from lf.hookspecs import hookimpl
from lf.plugins import plugin_module
from lf.testing import ContractError, check_plugin, running_server
from lf.testing.toys import counting_plugin


def test_tiny_model_loads_generates_and_has_a_chat_template(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.num_hidden_layers == 2 and tok.eos_token == "<|im_end|>"
    messages = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "Four."}]
    rendered = tok.apply_chat_template(messages, tokenize=False)
    assert rendered.endswith("<|im_start|>assistant\nFour.<|im_end|>\n")
    enc = tok.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert tok.decode(masked) == "Four.<|im_end|>"  # the end-of-turn token is trained on
    ids = tok("Hello world", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5 or out[0, -1].item() == tok.eos_token_id


def test_running_server_serves_a_real_asgi_app():
    import httpx

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"pong"})

    with running_server(app) as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/ping").text == "pong"


def test_check_plugin_accepts_a_good_plugin():
    specs = check_plugin(counting_plugin())
    assert [s.name for s in specs] == ["count"]


class Loose(msgspec.Struct):
    x: int = 1


def test_check_plugin_lists_every_problem():
    def register_trainers(register):
        register(
            ComponentSpec(
                kind="train",
                name="loose",
                summary="two\nlines",
                config=Loose,
                impl="lf.testing.toys:Missing",
                positionals=("nope",),
            )
        )

    @hookimpl
    def register_clasifiers(register):  # misspelt on purpose
        return None

    bad = plugin_module("badplug", register_trainers=register_trainers)
    bad.register_clasifiers = register_clasifiers
    with pytest.raises(ContractError) as info:
        check_plugin(bad)
    text = str(info.value)
    for expected in (
        "misspelt or unknown hook",
        "one non-empty line",
        "forbid_unknown_fields",
        "positional 'nope'",
        "Missing",
    ):
        assert expected in text, expected
