from __future__ import annotations

from pathlib import Path

import pytest

from lf_planner.config import (
    GPUConfig,
    InferenceConfig,
    LLMWorkloadInput,
    ModelConfig,
    Options,
    TrainingConfig,
    TrainingInput,
)
from lf_planner.hardware import load_catalog

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture
def inference_cfg() -> InferenceConfig:
    """The requirements' example: 10 rps, 500 in, 200 out, 70B FP16."""
    return InferenceConfig(
        workload=LLMWorkloadInput(requests_per_second=10, avg_input_tokens=500, avg_output_tokens=200),
        model=ModelConfig(model_size_billions=70, precision="FP16", context_window=8192),
        gpu=GPUConfig(gpu_type="A100-80GB"),
        options=Options(include_cost=True),
    )


@pytest.fixture
def training_cfg() -> TrainingConfig:
    return TrainingConfig(
        training=TrainingInput(
            dataset_size_tokens=100_000_000,
            sequence_length=2048,
            num_epochs=2,
            global_batch_size=32,
            gradient_checkpointing=True,
        ),
        model=ModelConfig(model_path="llama-3.1-8b"),
        gpu=GPUConfig(gpu_type="H100-80GB"),
        options=Options(include_cost=True),
    )
