"""Where a finished run goes besides ``output_dir``: a storage URL and the Hugging Face Hub.

* ``output_dir: s3://bucket/run`` (or ``gs://``, ``hf://``, any fsspec URL): the run writes
  into a local staging directory (``$LARGEFORGE_HOME/staging/...``, stable per URL, so
  ``resume: auto`` continues there after an interruption), then uploads it with
  :func:`lf.storage.upload_dir` - every file first, ``lf_output.json`` last - so the bucket
  never holds a run that looks complete but is not. A finished run already at the URL is
  refused unless ``overwrite: true``, before anything loads.
* ``push_to_hub: org/name``: the final adapter or model (no checkpoints) is pushed with
  ``huggingface_hub.HfApi.upload_folder``; ``push_merged_to_hub`` pushes ``merged/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from lf.components import TrainResult
from lf.errors import ConfigError, DependencyMissingError, RunError

OUTPUT_MARKER = "lf_output.json"
#: What is never pushed to the Hub: checkpoints (optimizer state), staging and the run's bookkeeping.
HUB_IGNORE = ["checkpoint-*", "checkpoint-*/**", ".tmp-*", ".tmp-*/**", "merged/**", "train_log.jsonl"]


def local_output(config: Any) -> tuple[Any, str | None]:
    """``(config to train with, remote URL or None)``: a remote ``output_dir`` becomes a local staging directory."""
    from lf.storage import filesystem, is_remote, local_path, staging_dir

    out = config.output_dir
    if not is_remote(out):
        if local_path(out) != out:
            return msgspec.structs.replace(config, output_dir=local_path(out)), None
        return config, None
    fs, base = filesystem(out)
    try:
        finished = fs.exists(f"{base.rstrip('/')}/{OUTPUT_MARKER}")
    except Exception as exc:
        raise RunError(f"Cannot read {out}: {type(exc).__name__}: {str(exc)[:300]}") from exc
    if finished and not config.overwrite:
        raise ConfigError(
            f"output_dir {out} already holds a finished run ({OUTPUT_MARKER} is there).",
            hint="Choose another output_dir, or set overwrite: true to replace it.",
        )
    return msgspec.structs.replace(config, output_dir=str(staging_dir(out))), out


def upload_output(result: TrainResult, url: str, events: Any) -> TrainResult:
    """Upload the staged run to ``url`` (markers last); the result then names the URL and the uploaded files."""
    from lf.storage import upload_dir
    from lf_trainer_sft.outputs import STAGING

    local = Path(str(result.output_dir))
    events.message(f"uploading {local} to {url} ({OUTPUT_MARKER} last)")
    written = upload_dir(local, url, exclude=(STAGING,))
    base = url.rstrip("/")
    artifacts = {name: base + _relative(path, local) for name, path in result.artifacts.items()}
    for name, path in artifacts.items():
        events.artifact(name, path)
    metrics = {**result.metrics, "uploaded_files": float(len(written))}
    return msgspec.structs.replace(
        result, output_dir=url, artifacts={**artifacts, "staging": str(local)}, metrics=metrics
    )


def _relative(path: str, root: Path) -> str:
    try:
        rel = Path(path).relative_to(root).as_posix()
    except ValueError:
        return ""
    return "" if rel == "." else f"/{rel}"


def push_to_hub(config: Any, result_dir: Path, events: Any) -> dict[str, str]:
    """Push the final adapter/model (and ``merged/`` when asked) to the Hub; returns ``{artifact: url}``."""
    pushed: dict[str, str] = {}
    targets = [("hub", config.push_to_hub, result_dir, HUB_IGNORE)]
    if config.push_merged_to_hub:
        targets.append(("hub_merged", config.push_merged_to_hub, result_dir / "merged", []))
    for name, repo, folder, ignore in targets:
        if not repo:
            continue
        if not folder.is_dir():
            raise RunError(f"Nothing to push to {repo}: {folder} does not exist.", hint="Set merge: true for merged/.")
        events.message(f"pushing {folder} to the Hugging Face Hub as {repo}")
        pushed[name] = _upload_folder(repo, folder, ignore, private=config.hub_private, run=config.output_dir)
    return pushed


def _upload_folder(repo: str, folder: Path, ignore: list[str], *, private: bool, run: str) -> str:
    try:
        from huggingface_hub import HfApi
    except ImportError as exc:
        raise DependencyMissingError.for_package("huggingface_hub", "push_to_hub") from exc
    api = HfApi()
    try:
        api.create_repo(repo, private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo,
            folder_path=str(folder),
            ignore_patterns=ignore,
            commit_message=f"LargeForge: {folder.name} of the run {run}",
        )
    except Exception as exc:
        raise RunError(
            f"Could not push {folder} to the Hugging Face Hub repository {repo}: {type(exc).__name__}: "
            f"{str(exc)[:300]}",
            hint="Check HF_TOKEN (a write token), the repository name, and HF_ENDPOINT for a private hub.",
        ) from exc
    return str(getattr(info, "commit_url", "") or f"{api.endpoint}/{repo}")
