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


def test_the_router_serves_a_plugins_classifier(site, tmp_path):
    """`lf serve router --classifier regex`: a third-party classifier behind the real router."""
    import os
    import subprocess

    import openai

    from lf.serve.app import create_app
    from lf.testing import free_port, running_server, wait_for_port
    from lf.testing.cli import lf_executable
    from lf.testing.echo_backend import EchoBackend, EchoConfig

    registry = tmp_path / "experts.yaml"
    env = {"PYTHONPATH": str(site), "LF_EXPERTS_FILE": str(registry)}
    port = free_port()
    with running_server(create_app(EchoBackend(), EchoConfig(model="echo"), backend_name="echo")) as upstream:
        for name, keywords in (("general", "story"), ("sql", "select,join")):
            added = run_cli("expert", "add", name, "--keywords", keywords, "--endpoint", upstream, env=env)
            assert added.returncode == 0, added.stderr
        cmd = [lf_executable(), "serve", "router", "--classifier", "regex", "--port", str(port)]
        with subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
            try:
                wait_for_port("127.0.0.1", port, timeout=60)
                client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
                answers = {}
                for query in ("SELECT name FROM users", "Tell me a story", "Hello there"):
                    raw = client.chat.completions.with_raw_response.create(
                        model="auto", messages=[{"role": "user", "content": query}], max_tokens=4
                    )
                    answers[query] = (raw.headers["x-lf-expert"], raw.headers["x-lf-routing"], raw.parse())
            finally:
                proc.terminate()
                output = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert answers["SELECT name FROM users"][:2] == ("sql", "classified"), output[-2000:]
    assert answers["Tell me a story"][:2] == ("general", "classified")
    assert answers["Hello there"][0] == "general"  # no pattern matched: the fallback
    assert all(completion.choices[0].message.content for _, _, completion in answers.values())
