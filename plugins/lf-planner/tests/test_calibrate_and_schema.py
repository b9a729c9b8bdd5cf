"""`lf plan calibrate`, the --efficiency round trip, the published JSON Schemas, user hardware files."""

from __future__ import annotations

import json

import jsonschema
import msgspec
import pytest

from lf.errors import ConfigError
from lf.testing import run_cli
from lf_planner import schemas
from lf_planner.calibrate import (
    ModelRef,
    ResultsFile,
    ServingMeasured,
    ServingRun,
    TrainingMeasured,
    TrainingRun,
    calibrate,
    predict,
)
from lf_planner.config import Efficiency
from lf_planner.engine import LLMForecastEngine
from lf_planner.export import to_json
from lf_planner.hardware import load_catalog


def _synthetic(catalog, truth: Efficiency) -> ResultsFile:
    """Runs whose 'measurements' are the planner's own numbers under known factors."""
    runs: list[ServingRun | TrainingRun] = [
        TrainingRun(
            model=ModelRef(model_path="llama-3.1-8b"),
            gpu_type="H100-80GB",
            sequence_length=4096,
            measured=TrainingMeasured(tokens_per_s_per_gpu=1.0),
        ),
        ServingRun(
            model=ModelRef(model_path="llama-3.1-8b"),
            gpu_type="A100-80GB",
            precision="BF16",
            input_tokens=2048,
            output_tokens=1,
            batch_size=1,
            measured=ServingMeasured(ttft_ms=1.0),
        ),
        ServingRun(
            model=ModelRef(model_path="llama-3.1-8b"),
            gpu_type="A100-80GB",
            precision="BF16",
            input_tokens=128,
            output_tokens=512,
            batch_size=1,
            measured=ServingMeasured(itl_ms=1.0),
        ),
        ServingRun(
            model=ModelRef(model_path="llama-3.1-8b"),
            gpu_type="A100-80GB",
            precision="BF16",
            input_tokens=128,
            output_tokens=512,
            measured=ServingMeasured(output_tokens_per_s=1.0),
        ),
    ]
    out = []
    for run in runs:
        values = predict(run, truth, catalog)
        measured = msgspec.convert(values, type(run.measured))
        out.append(msgspec.structs.replace(run, measured=measured))
    return ResultsFile(runs=out)


def test_calibration_recovers_known_factors(catalog):
    truth = msgspec.structs.replace(Efficiency(), training_mfu=0.3, decode_mbu=0.6, prefill_mfu=0.5)
    result = calibrate(_synthetic(catalog, truth), Efficiency(), catalog)
    assert result.efficiency.training_mfu == pytest.approx(0.3, abs=0.01)
    assert result.efficiency.decode_mbu == pytest.approx(0.6, abs=0.03)
    assert result.efficiency.prefill_mfu == pytest.approx(0.5, abs=0.05)
    assert result.mean_abs_error_after_pct < 3 < result.mean_abs_error_before_pct


def test_calibrate_cli_writes_factors_that_plans_then_use(tmp_path, catalog):
    truth = msgspec.structs.replace(Efficiency(), training_mfu=0.25)
    runs = _synthetic(catalog, truth)
    (tmp_path / "runs.json").write_bytes(msgspec.json.encode(runs))
    out = run_cli("plan", "calibrate", str(tmp_path / "runs.json"), "--output", str(tmp_path / "eff.json"))
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "eff.json").read_text())["efficiency"]["training_mfu"] == pytest.approx(
        0.25, abs=0.01
    )
    args = [
        "plan",
        "training",
        "--dataset-size",
        "100000000",
        "--sequence-length",
        "2048",
        "--epochs",
        "1",
        "--global-batch-size",
        "8",
        "--model",
        "llama-3.1-8b",
        "--gpu-type",
        "H100-80GB",
        "--gradient-checkpointing",
        "--json",
    ]
    default = json.loads(run_cli(*args).stdout)["training_metrics"]["tokens_per_second_per_gpu"]
    tuned = json.loads(run_cli(*args, "--efficiency", str(tmp_path / "eff.json")).stdout)["training_metrics"][
        "tokens_per_second_per_gpu"
    ]
    assert tuned == pytest.approx(default * 0.25 / 0.40, rel=0.05)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "lf-plan-results/v1", "runs": [{"kind": "serving", "gpu_type": "H100"}]}')
    assert run_cli("plan", "calibrate", str(bad)).returncode == 4


@pytest.mark.parametrize("kind", sorted(schemas.KINDS))
def test_published_schemas_match_the_code(kind):
    assert schemas.schema_text(kind) == schemas.dumps(schemas.generate(kind)), "run: python -m lf_planner.schemas"


def test_exported_plans_validate_against_their_published_schemas(inference_cfg, training_cfg, tmp_path):
    for cfg, kind in ((inference_cfg, "inference"), (training_cfg, "training")):
        plan = json.loads(to_json(LLMForecastEngine().plan(cfg)))
        schema = json.loads(schemas.schema_text(kind))
        jsonschema.validate(plan, schema)
        broken = {**plan, "gpu_resources": {**plan["gpu_resources"], "recommended_gpu_type": 3}}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
    # Files written by the CLI validate too, and so do the config templates.
    out = run_cli(
        "plan",
        "inference",
        "--rps",
        "3",
        "--input-tokens",
        "100",
        "--output-tokens",
        "50",
        "--model-size",
        "8",
        "--cost",
        "-o",
        str(tmp_path / "p.json"),
    )
    assert out.returncode == 0
    jsonschema.validate(json.loads((tmp_path / "p.json").read_text()), json.loads(schemas.schema_text("inference")))
    from lf_planner.configfile import template

    for mode in ("inference", "training"):
        jsonschema.validate(template(mode), json.loads(schemas.schema_text(f"{mode}-config")))
    results = json.loads(
        (__import__("pathlib").Path(__file__).parent / "data" / "published_measurements.json").read_text()
    )
    jsonschema.validate(results, json.loads(schemas.schema_text("results")))


def test_a_user_hardware_file_adds_gpus_and_prices(tmp_path, inference_cfg):
    gpu = {
        "name": "MyGPU-96GB",
        "memory_gb": 96,
        "memory_bandwidth_gbps": 4000,
        "dense_tflops": {"bf16": 1000, "fp16": 1000},
        "interconnect": {"name": "NVLink", "bandwidth_gbps": 900},
        "source": "https://example.com/datasheet",
    }
    prices = [
        {
            "provider": "mycloud",
            "gpu": "MyGPU-96GB",
            "usd_per_gpu_hour": 1.5,
            "read_on": "2026-01-01",
            "source": "contract",
        },
        {"provider": "aws", "gpu": "H100-80GB", "usd_per_gpu_hour": 5.0, "read_on": "2026-01-01", "source": "discount"},
    ]
    custom = {"gpus": [gpu], "prices": prices}
    path = tmp_path / "hw.json"
    path.write_text(json.dumps(custom))
    catalog = load_catalog(path)
    assert catalog.gpu("mygpu-96gb").memory_gb == 96
    assert catalog.price("H100-80GB", "aws").usd_per_gpu_hour == 5.0
    out = run_cli(
        "plan",
        "inference",
        "--rps",
        "5",
        "--input-tokens",
        "100",
        "--output-tokens",
        "100",
        "--model-size",
        "8",
        "--gpu-type",
        "MyGPU-96GB",
        "--cloud-provider",
        "mycloud",
        "--cost",
        "--hardware",
        str(path),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["cost"]["usd_per_gpu_hour"] == 1.5
    path.write_text(
        json.dumps(
            {"prices": [{"provider": "x", "gpu": "Nope", "usd_per_gpu_hour": 1, "read_on": "2026", "source": "s"}]}
        )
    )
    with pytest.raises(ConfigError, match="not in the catalog"):
        load_catalog(path)
