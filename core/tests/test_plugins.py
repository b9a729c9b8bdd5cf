"""Registry: discovery, LF_PLUGINS, broken and conflicting plugins, lookups."""

from __future__ import annotations

import msgspec
import pytest

from lf.components import ComponentSpec
from lf.errors import PluginConflictError, PluginNotFoundError
from lf.plugins import Registry, plugin_module


class ToyConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    steps: int = 3


def _trainer_plugin(name: str, component: str = "toy"):
    def register_trainers(register):
        register(
            ComponentSpec(
                kind="train", name=component, summary="A toy trainer", config=ToyConfig, impl="tests_support.toy:ToyJob"
            )
        )

    return plugin_module(name, register_trainers=register_trainers)


def test_builtins_register_six_formats_through_the_hook():
    registry = Registry(load_entry_points=False)
    names = [s.name for s in registry.specs("format")]
    assert names == sorted(["alpaca", "sharegpt", "messages", "prompt-response", "dpo", "text"])
    spec = registry.get("format", "alpaca")
    assert spec.package == "lf-core" and spec.plugin == "lf.default_plugins.data_formats"


def test_unknown_name_lists_installed_and_closest_match():
    registry = Registry(load_entry_points=False)
    with pytest.raises(PluginNotFoundError) as info:
        registry.get("format", "alpacca")
    assert "alpaca" in info.value.message and "Did you mean 'alpaca'" in (info.value.hint or "")


def test_unknown_kind_suggests_the_right_one():
    registry = Registry(load_entry_points=False)
    with pytest.raises(PluginNotFoundError) as info:
        registry.get("trian", "sft")
    assert "train" in (info.value.hint or "")


def test_two_packages_claiming_one_name_is_an_error_naming_both():
    registry = Registry(load_entry_points=False)
    registry.add_plugin(_trainer_plugin("first"), name="first", package="lf-first")
    registry.add_plugin(_trainer_plugin("second"), name="second", package="lf-second")
    with pytest.raises(PluginConflictError) as info:
        registry.get("train", "toy")
    assert "lf-first" in info.value.message and "lf-second" in info.value.message
    assert any("lf-first" in p for p in registry.problems)
    # the rest of lf keeps working
    assert registry.get("format", "text").name == "text"


def test_a_plugin_whose_hook_raises_is_reported_not_fatal():
    def register_trainers(register):
        raise RuntimeError("boom")

    registry = Registry(load_entry_points=False)
    registry.add_plugin(plugin_module("bad", register_trainers=register_trainers), name="bad")
    assert registry.specs("train") == []
    assert any("boom" in p for p in registry.problems)
    assert registry.get("format", "dpo")


def test_a_plugin_that_fails_to_import_is_reported(monkeypatch):
    registry = Registry(load_entry_points=False)
    registry._load_module("lf_does_not_exist_xyz", "ghost", "lf-ghost", "0.0.1")
    info = registry.plugins["ghost"]
    assert not info.ok and "ModuleNotFoundError" in (info.error or "")
    assert any("lf-ghost" in p for p in registry.problems)


def test_lf_plugins_empty_loads_no_entry_points(monkeypatch):
    monkeypatch.setenv("LF_PLUGINS", "")
    registry = Registry()
    assert all(p.builtin for p in registry.plugins.values())


def test_trace_prints_hook_calls(monkeypatch, capsys):
    monkeypatch.setenv("LF_TRACE_PLUGINS", "1")
    registry = Registry(load_entry_points=False)
    registry.specs("format")
    assert "register_data_formats" in capsys.readouterr().err


def test_remove_plugin_forgets_its_components():
    registry = Registry(load_entry_points=False)
    registry.add_plugin(_trainer_plugin("toyplug"), name="toyplug")
    assert registry.get("train", "toy")
    registry.remove_plugin("toyplug")
    with pytest.raises(PluginNotFoundError):
        registry.get("train", "toy")


def test_spec_validation_rejects_bad_names_and_impls():
    with pytest.raises(ValueError, match="must start with a letter"):
        ComponentSpec(kind="train", name="Bad Name", summary="x", impl="a:b")
    with pytest.raises(ValueError, match="module:Attribute"):
        ComponentSpec(kind="train", name="ok", summary="x", impl="nocolon")
    with pytest.raises(ValueError, match="unknown component kind"):
        ComponentSpec(kind="nope", name="ok", summary="x", impl="a:b")


class ToyRunnerOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    port: int = 8080


def test_kind_runner_options_given_by_name_are_imported_only_when_a_config_is_built():
    from lf.components import KindRunner

    def register_classifiers(register):
        register(ComponentSpec(kind="route", name="toy", summary="A toy classifier", config=ToyConfig, impl="m:C"))

    def register_kind_runners(register):
        register(KindRunner(kind="route", runner="m:run", summary="toy router", options=f"{__name__}:ToyRunnerOptions"))

    registry = Registry(load_entry_points=False)
    registry.add_plugin(plugin_module("toy-route", register_classifiers=register_classifiers), name="toy-route")
    registry.add_plugin(plugin_module("toy-runner", register_kind_runners=register_kind_runners), name="toy-runner")
    runner = registry.kind_runner("route")
    assert runner is not None and runner.options == f"{__name__}:ToyRunnerOptions"  # not imported yet
    merged = registry.config_type(registry.get("route", "toy"))
    assert merged is not None and {"port", "steps"} <= set(merged.__struct_fields__)
    assert runner.options is ToyRunnerOptions
    with pytest.raises(ValueError, match=r"package\.module:Struct"):
        KindRunner(kind="route", runner="m:run", summary="bad", options="ToyRunnerOptions")
