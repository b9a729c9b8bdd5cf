"""A registry with only the plugins a test chooses, swapped in as the process-wide one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lf.plugins import Registry, get_registry, reset_registry


@contextlib.contextmanager
def isolated_registry(*plugins: object, entry_points: bool = False) -> Iterator[Registry]:
    """Yield a fresh registry (built-ins + ``plugins``; entry points only if asked).

    The previous process-wide registry is restored afterwards, so tests never leak plugins.
    """
    from lf import plugins as plugins_module

    previous = plugins_module._registry
    registry = Registry(load_entry_points=entry_points)
    for index, plugin in enumerate(plugins):
        registry.add_plugin(plugin, name=getattr(plugin, "__name__", f"test-plugin-{index}"))
    reset_registry(registry)
    try:
        yield get_registry()
    finally:
        reset_registry(previous)
