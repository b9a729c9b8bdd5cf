"""The contract itself: every hook documented, docs in sync, built-ins honour it."""

from __future__ import annotations

import inspect
from pathlib import Path

import pluggy
import pytest

from lf import hookspecs
from lf.components import KINDS
from lf.default_plugins import data_formats
from lf.docs import hook_reference
from lf.testing import check_plugin

HOOKS = [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "lf_spec")]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def test_every_kind_has_a_hook():
    for kind in KINDS.values():
        assert kind.hook in HOOKS


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_teaching_docstring(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert len(doc.split()) >= 8, f"{name} needs a docstring a plugin author can follow"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_in_the_reference_with_its_signature(name):
    text = DOCS.read_text()
    signature = f"{name}{inspect.signature(getattr(hookspecs, name))}".replace("'", "")
    assert f"### `{name}`" in text, f"docs/hooks.md lacks {name}: run `python -m lf.docs hooks > docs/hooks.md`"
    assert signature in text, f"documented signature of {name} differs from {signature}"


def test_hook_reference_is_up_to_date():
    assert DOCS.read_text() == hook_reference(), "run `python -m lf.docs hooks > docs/hooks.md`"


def test_builtin_plugins_honour_the_contract():
    specs = check_plugin(data_formats)
    assert sorted(s.name for s in specs) == sorted(["alpaca", "sharegpt", "messages", "prompt-response", "dpo", "text"])


def test_check_pending_catches_a_misspelt_hook():
    pm = pluggy.PluginManager("lf")
    pm.add_hookspecs(hookspecs)

    class Typo:
        @hookspecs.hookimpl
        def register_trainer(self, register):  # missing "s"
            pass

    pm.register(Typo())
    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()
