"""The generic runner and the CLI built from the registry, driven for real."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lf.cli.app import build_app
from lf.errors import ConfigError, RunError
from lf.plugins import plugin_module
from lf.runner import run_component
from lf.testing import isolated_registry
from lf.testing.toys import counting_plugin


def test_run_component_builds_config_runs_and_notifies_observers(tmp_path):
    seen = []

    def lf_event(component, event, data):
        seen.append((component.name, event, dict(data)))

    observer = plugin_module("observer", lf_event=lf_event)
    with isolated_registry(counting_plugin(), observer):
        result = run_component("train", "count", overrides=[f"output_dir={tmp_path}", "steps=4"])
    assert result.metrics["loss"] == pytest.approx(2.0 / 16)
    assert json.loads((tmp_path / "result.json").read_text())["steps"] == 4
    events = [e for _, e, _ in seen]
    assert events[0] == "start" and events[-1] == "end"
    assert events.count("progress") == 4 and events.count("metrics") == 4 and "artifact" in events


def test_observer_that_raises_never_stops_a_run(tmp_path):
    def lf_event(component, event, data):
        raise ValueError("observer bug")

    with isolated_registry(counting_plugin(), plugin_module("bad_observer", lf_event=lf_event)) as reg:
        result = run_component("train", "count", overrides=[f"output_dir={tmp_path}"])
        assert result.output_dir == str(tmp_path)
        assert any("observer bug" in p for p in reg.problems)


def test_bad_config_stops_before_running(tmp_path):
    with isolated_registry(counting_plugin()), pytest.raises(ConfigError, match="steps"):
        run_component("train", "count", overrides=[f"output_dir={tmp_path}", "steps=0"])
    assert not (tmp_path / "result.json").exists()


def test_cli_run_generic_and_friendly_are_the_same_path(tmp_path):
    runner = CliRunner()
    with isolated_registry(counting_plugin()):
        app = build_app()
        a = runner.invoke(
            app, ["run", "train", "--plugin", "count", "--set", f"output_dir={tmp_path / 'a'}", "--set", "steps=2"]
        )
        b = runner.invoke(app, ["train", "count", str(tmp_path / "b"), "--steps", "2", "--tags", "x,y"])
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    assert json.loads((tmp_path / "a" / "result.json").read_text())["steps"] == 2
    assert json.loads((tmp_path / "b" / "result.json").read_text()) == {"steps": 2, "loss": 0.5, "tags": ["x", "y"]}


def test_friendly_help_lists_config_fields(tmp_path):
    with isolated_registry(counting_plugin()):
        result = CliRunner().invoke(build_app(), ["train", "count", "--help"])
    assert result.exit_code == 0
    for text in ("--steps", "--start-loss", "--fail / --no-fail", "How many steps to count", "--config", "--set"):
        assert text in result.output


def test_dry_run_prints_resolved_config(tmp_path):
    with isolated_registry(counting_plugin()):
        result = CliRunner().invoke(build_app(), ["train", "count", str(tmp_path), "--steps", "7", "--dry-run"])
    assert result.exit_code == 0 and "steps: 7" in result.output
    assert not (tmp_path / "result.json").exists()


def test_job_failure_raises_run_error(tmp_path):
    with isolated_registry(counting_plugin()), pytest.raises(RunError):
        run_component("train", "count", overrides=[f"output_dir={tmp_path}", "fail=true"])


def test_a_config_msgspec_cannot_describe_never_breaks_the_cli():
    import msgspec

    from lf.components import ComponentSpec

    class Weird(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
        # a name imported only under TYPE_CHECKING: msgspec cannot resolve it at run time
        when: NameOnlyImportedForTypeCheckers | None = None  # noqa: F821

    def register_trainers(register):
        register(ComponentSpec(kind="train", name="weird", summary="odd config", config=Weird, impl="x.y:Z"))

    with isolated_registry(plugin_module("weird_plugin", register_trainers=register_trainers)) as reg:
        result = CliRunner().invoke(build_app(), ["plugins", "--json"])
        assert result.exit_code == 0, result.output
        assert any("'weird'" in p and "NameError" in p for p in reg.problems)


@pytest.mark.parametrize(
    ("args", "env", "source"),
    [
        (["run", "train", "--plugin", "count", "--set", "output_dir=OUT", "--set", "steps=0"], {}, "--set steps=0"),
        (["train", "count", "OUT", "--steps", "0"], {}, "--steps 0"),
        (["run", "train", "--plugin", "count", "--set", "output_dir=OUT"], {"LF_COUNT_STEPS": "0"}, "LF_COUNT_STEPS=0"),
    ],
)
def test_dry_run_error_names_where_the_bad_value_came_from(tmp_path, monkeypatch, capsys, args, env, source):
    from lf.cli import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = [a.replace("OUT", str(tmp_path)) for a in args]
    with isolated_registry(counting_plugin()), pytest.raises(SystemExit) as info:
        main([*args, "--dry-run"])
    assert info.value.code == 3
    text = " ".join(capsys.readouterr().err.split())
    assert source in text and "'steps'" in text and ">= 1" in text and "found 0" in text


def test_run_help_lists_route_and_data_help_lists_plugin_formats():
    import inspect

    from lf.cli import data_cmd
    from lf.cli.run_cmd import RUNNABLE
    from lf.components import ComponentSpec
    from lf.hookspecs import hookimpl
    from lf.plugins import plugin_module
    from lf.testing import isolated_registry

    assert "route" in RUNNABLE and "format" not in RUNNABLE

    @hookimpl
    def register_data_formats(register):
        register(ComponentSpec(kind="format", name="qa-pairs", summary="q/a", impl="lf.data.formats:MessagesFormat"))

    with isolated_registry(plugin_module("qa_format_plugin", register_data_formats=register_data_formats)) as reg:
        data_cmd.describe_formats(reg)
    to_help = inspect.signature(data_cmd.convert).parameters["to"].default.help
    assert "qa-pairs" in to_help and "messages" in to_help


def test_dry_run_never_prints_keys():
    from lf.testing import run_cli

    key, admin, upstream = "k" * 40, "a" * 40, "u" * 40
    served = run_cli("run", "serve", "--plugin", "hf", "--set", "model=tiny", "--set", f"api_keys=[{key}]",
                     "--set", f"admin_keys=[{admin}]", "--dry-run")  # fmt: skip
    assert served.returncode == 0, served.stderr
    assert key not in served.stdout and admin not in served.stdout and "api_keys: '***'" in served.stdout
    routed = run_cli("run", "route", "--plugin", "keyword", "--set", f"upstream.api_key={upstream}", "--dry-run")
    assert routed.returncode == 0, routed.stderr
    assert upstream not in routed.stdout and "api_key: '***'" in routed.stdout
