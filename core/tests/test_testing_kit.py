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


# --- check_plugin checks what the callers use (lf.kinds) and runs what it can -------------------


class HalfClassifier:
    """Has classify only: what the router calls beyond it (from_config, sync_experts...) is missing."""

    def classify(self, query, context=None):
        raise AssertionError("never called")


class NoModelsBackend:
    """load, generate, stream - but no models(), which /v1/models and readiness need."""

    def load(self, config):
        pass

    async def generate(self, request):
        raise AssertionError("never called")

    def stream(self, request):
        raise AssertionError("never called")


class WrongExpertClassifier:
    """Has every member, but answers with an expert it was never given."""

    @classmethod
    def from_config(cls, config, experts, *, fallback_expert=None):
        return cls()

    fallback_expert = "general"

    def classify(self, query, context=None):
        from lf.kinds import ClassificationResult

        return ClassificationResult(expert="nobody", confidence=1.0, scores={}, method="wrong")

    def classify_batch(self, queries, contexts=None):
        return [self.classify(q) for q in queries]

    def sync_experts(self, source):
        return False

    def list_experts(self):
        return []


def _plugin(kind: str, hook: str, impl: str):
    def register(register):
        register(ComponentSpec(kind=kind, name="x", summary="x", impl=impl))

    return plugin_module("test_contract_plugin", **{hook: hookimpl(register)})


def test_check_plugin_fails_on_a_classifier_without_what_the_router_calls():
    with pytest.raises(ContractError) as caught:
        check_plugin(_plugin("route", "register_classifiers", f"{__name__}:HalfClassifier"))
    message = str(caught.value)
    for member in ("from_config", "classify_batch", "sync_experts", "fallback_expert", "list_experts"):
        assert member in message
    assert "lf.kinds.Classifier" in message


def test_check_plugin_fails_on_a_backend_without_models():
    with pytest.raises(ContractError, match=r"lacks models \(see lf.kinds.Backend\)"):
        check_plugin(_plugin("serve", "register_backends", f"{__name__}:NoModelsBackend"))


def test_check_plugin_builds_and_runs_a_classifier_as_the_router_does():
    with pytest.raises(ContractError) as caught:
        check_plugin(_plugin("route", "register_classifiers", f"{__name__}:WrongExpertClassifier"))
    message = str(caught.value)
    assert "chose 'nobody'" in message and "after sync_experts it lists []" in message
