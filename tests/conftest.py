from __future__ import annotations

from pathlib import Path

import pytest

from lf.testing import install_into

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def installed_test_plugins(tmp_path_factory) -> Path:
    """tests/plugins/* really pip-installed into a private --target directory."""
    return install_into(
        tmp_path_factory.mktemp("site"),
        ROOT / "tests/plugins/lf-toy-classifier",
        ROOT / "tests/plugins/lf-broken-plugin",
    )
