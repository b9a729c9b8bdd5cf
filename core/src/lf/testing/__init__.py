"""Test kit for LargeForge and for plugin authors.

* :func:`tiny_model` - a real few-layer Llama-style chat model + tokenizer, built offline in
  about a second (needs torch and transformers, imported only when called).
* :func:`lf.testing.families.family_model` - tiny random Llama-3, Qwen2, Mistral, Gemma-2 and Phi-3
  models, each with its family's tokenizer kind, chat template and stop tokens (read from a
  ``chat_templates`` folder: :func:`lf.testing.families.find_chat_templates`).
* :data:`SAMPLES`, :func:`sample_records`, :func:`write_samples` - records of every format.
* :func:`running_server`, :func:`free_port` - serve an ASGI app on 127.0.0.1 for real HTTP tests;
  :func:`wait_ready` - wait for a server started in a subprocess to load.
* :func:`check_plugin` - does a plugin honour the hook contract?
* :func:`run_cli` - run the real ``lf`` command in a subprocess.
* :func:`lf.testing.openai_api.check_openai_api` - the API checks every serving backend
  must pass (the ``openai`` client against a running server);
  :mod:`lf.testing.echo_backend` - a model-free backend for tests of the server layer.
* :func:`isolated_registry` - a registry holding only the plugins you give it.
* :func:`lf.testing.s3.running_s3_server` - a real S3-compatible server (moto) on 127.0.0.1.
* :class:`lf.testing.redis.RedisServer` - a real ``redis-server`` on a free port.

Installed with lf-core is a pytest plugin with fixtures ``tiny_model_dir`` (session
scoped), ``s3_server`` (session scoped; needs ``moto[server]`` and ``s3fs``), ``redis_server``
(skips when redis-server is not installed) and ``lf_registry``.
"""

from lf.testing.cli import install_into, run_cli, run_pytest
from lf.testing.contract import ContractError, check_plugin
from lf.testing.registry import isolated_registry
from lf.testing.samples import SAMPLES, sample_records, write_samples
from lf.testing.server import free_port, running_server, wait_for_port, wait_ready
from lf.testing.tiny import CHAT_TEMPLATE, build_tokenizer, tiny_model

__all__ = [
    "CHAT_TEMPLATE",
    "SAMPLES",
    "ContractError",
    "build_tokenizer",
    "check_plugin",
    "free_port",
    "install_into",
    "isolated_registry",
    "run_cli",
    "run_pytest",
    "running_server",
    "sample_records",
    "tiny_model",
    "wait_for_port",
    "wait_ready",
    "write_samples",
]
