"""LargeForge: train, compress, serve and route language models - a plugin toolkit.

The core (``lf-core``) holds the plugin contract (:mod:`lf.hookspecs`), the registry
(:mod:`lf.plugins`), configs (:mod:`lf.config`), data formats (:mod:`lf.data`), the
OpenAI-compatible server (:mod:`lf.serve`), the expert registry and the ``lf`` CLI.
Everything that needs torch lives in plugins and is imported only when it runs.
"""

__version__ = "0.1.0"
