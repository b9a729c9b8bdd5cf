"""A plugin from outside the core installs and works with no change to the core; a broken one never breaks lf."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from lf.testing import run_cli as run_lf


def _env(site):
    return {"PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def test_installed_plugin_is_listed_and_the_broken_one_reported(installed_test_plugins):
    result = run_lf("plugins", "--json", env=_env(installed_test_plugins))
    assert result.returncode == 0, result.stderr
    rows = {row["plugin"]: row for row in json.loads(result.stdout)["plugins"]}
    toy = rows["toy-classifier"]
    assert toy["package"] == "lf-toy-classifier" and toy["version"] == "0.0.1" and toy["status"] == "ok"
    assert toy["components"] == [{"kind": "route", "name": "toy", "summary": "Counts keyword hits per expert"}]
    broken = rows["broken"]
    assert broken["status"] == "error" and "lf_dependency_that_is_not_installed" in broken["error"]


def test_the_plugin_is_usable_through_the_registry(installed_test_plugins):
    code = (
        "from lf.experts import ExpertConfig\n"
        "from lf.plugins import get_registry\n"
        "spec = get_registry().get('route', 'toy')\n"
        "experts = [ExpertConfig(name='general'), ExpertConfig(name='code', keywords=['python', 'bug'])]\n"
        "clf = spec.load().from_config(spec.config(min_hits=2), experts, fallback_expert='general')\n"
        "print(*(clf.classify(q).expert for q in ('fix this python bug', 'my python', 'hello there')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **_env(installed_test_plugins)},
        check=True,
    )
    assert out.stdout.split() == ["code", "general", "general"]  # one hit is below min_hits=2


def test_doctor_fails_on_a_broken_plugin_and_lf_plugins_limits_loading(installed_test_plugins):
    env = _env(installed_test_plugins)
    doctor = run_lf("doctor", "--json", env=env)
    assert doctor.returncode == 1
    failing = [c for c in json.loads(doctor.stdout)["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failing] == ["broken"]
    # The way out of a broken install: choose what loads.
    only_toy = run_lf("plugins", "--json", env={**env, "LF_PLUGINS": "toy-classifier"})
    names = [r["plugin"] for r in json.loads(only_toy.stdout)["plugins"] if not r["builtin"]]
    assert names == ["toy-classifier"]
    none = run_lf("doctor", "--json", env={**env, "LF_PLUGINS": ""})
    assert none.returncode == 0


def test_config_show_works_for_third_party_components(installed_test_plugins):
    result = run_lf("config", "show", "route", "toy", env=_env(installed_test_plugins))
    assert result.returncode == 0, result.stderr
    assert "min_hits: 1" in result.stdout  # the classifier's own option...
    assert "port: 8080" in result.stdout and "registry:" in result.stdout  # ...beside the router's
