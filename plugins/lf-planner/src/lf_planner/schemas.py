"""The published JSON Schemas, generated from the Structs and shipped in ``schemas/``.

``python -m lf_planner.schemas`` rewrites the files; a test fails when they drift from the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lf.errors import ConfigError

SCHEMA_DIR = Path(__file__).with_name("schemas")
BASE_ID = "https://largeforge.dev/schemas/lf-plan/"

#: kind -> (file name, "module:Struct", title)
KINDS: dict[str, tuple[str, str, str]] = {
    "inference": (
        "llm-capacity-plan.schema.json",
        "lf_planner.plans:LLMCapacityPlan",
        "LLMCapacityPlan (lf plan inference)",
    ),
    "training": (
        "training-capacity-plan.schema.json",
        "lf_planner.plans:TrainingCapacityPlan",
        "TrainingCapacityPlan (lf plan training)",
    ),
    "inference-config": (
        "inference-config.schema.json",
        "lf_planner.config:InferenceConfig",
        "lf plan inference --config FILE",
    ),
    "training-config": (
        "training-config.schema.json",
        "lf_planner.config:TrainingConfig",
        "lf plan training --config FILE",
    ),
    "results": (
        "results.schema.json",
        "lf_planner.calibration_runs:ResultsFile",
        "lf plan calibrate RESULTS (lf-plan-results/v1)",
    ),
    "forecast": (
        "forecast.schema.json",
        "lf_planner.forecast.result:ForecastResult",
        "lf plan forecast output (lf-plan-forecast/v1)",
    ),
}


def generate(kind: str) -> dict[str, Any]:
    """The schema of ``kind`` built from the code."""
    import importlib

    import msgspec

    if kind not in KINDS:
        raise ConfigError(f"Unknown schema '{kind}'.", hint="One of: " + ", ".join(KINDS) + ".")
    filename, target, title = KINDS[kind]
    module, _, name = target.partition(":")
    struct = getattr(importlib.import_module(module), name)
    schema = msgspec.json.schema(struct)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + filename,
        "title": title,
        **schema,
    }


def dumps(schema: dict[str, Any]) -> str:
    """Stable text for a schema."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def schema_text(kind: str) -> str:
    """The published schema file of ``kind``."""
    if kind not in KINDS:
        raise ConfigError(f"Unknown schema '{kind}'.", hint="One of: " + ", ".join(KINDS) + ".")
    return (SCHEMA_DIR / KINDS[kind][0]).read_text(encoding="utf-8")


def write_all() -> list[Path]:
    """Regenerate every shipped schema file."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for kind, (filename, _, _) in KINDS.items():
        path = SCHEMA_DIR / filename
        path.write_text(dumps(generate(kind)), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_all():
        print(p)
