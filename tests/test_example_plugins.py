"""The two third-party-style plugins in examples/plugins install and pass their own tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lf.testing import install_into, run_cli, run_pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "plugins"
PACKAGES = sorted(p for p in EXAMPLES.iterdir() if (p / "pyproject.toml").exists())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install_into(tmp_path_factory.mktemp("example-plugins"), *PACKAGES)


def test_both_are_listed_by_lf_plugins(site):
    result = run_cli("plugins", "--json", env={"PYTHONPATH": str(site)})
    rows = {r["package"]: r for r in json.loads(result.stdout)["plugins"]}
    assert rows["lf-trainer-kto"]["components"][0]["name"] == "kto"
    assert rows["lf-classifier-regex"]["components"][0]["name"] == "regex"
    assert all(rows[p]["status"] == "ok" for p in ("lf-trainer-kto", "lf-classifier-regex"))


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_their_own_tests_pass(site, package):
    result = run_pytest(package, pythonpath=site)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
