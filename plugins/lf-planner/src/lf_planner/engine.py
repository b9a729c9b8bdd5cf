"""The programmatic interface of the requirements: ``LLMForecastEngine``.

Example::

    from lf_planner.config import LLMWorkloadInput, ModelConfig, TrainingInput
    from lf_planner.engine import LLMForecastEngine

    engine = LLMForecastEngine()
    plan = engine.generate_inference_plan(
        LLMWorkloadInput(requests_per_second=10, avg_input_tokens=500, avg_output_tokens=200),
        ModelConfig(model_size_billions=70, precision="FP16", context_window=8192),
    )
    print(plan.gpu_resources.total_gpus, plan.throughput.estimated_ttft_ms)
"""

from __future__ import annotations

import os

from lf_planner.config import (
    Constants,
    Efficiency,
    GPUConfig,
    InferenceConfig,
    LLMWorkloadInput,
    ModelConfig,
    Options,
    ServiceInput,
    TrainingConfig,
    TrainingInput,
)
from lf_planner.hardware import Catalog, load_catalog
from lf_planner.plans import LLMCapacityPlan, TrainingCapacityPlan


class LLMForecastEngine:
    """Builds capacity plans from the requirements' input models."""

    def __init__(
        self,
        *,
        hardware_file: str | os.PathLike[str] | None = None,
        efficiency: Efficiency | None = None,
        constants: Constants | None = None,
    ) -> None:
        self.catalog: Catalog = load_catalog(hardware_file)
        self.hardware_file = str(hardware_file) if hardware_file else None
        self.efficiency = efficiency or Efficiency()
        self.constants = constants or Constants()

    def _options(self, options: Options | None) -> Options:
        options = options or Options()
        if self.hardware_file and not options.hardware_file:
            options = Options(
                include_cost=options.include_cost, output_file=options.output_file, hardware_file=self.hardware_file
            )
        return options

    def generate_inference_plan(
        self,
        workload: LLMWorkloadInput,
        model: ModelConfig,
        gpu: GPUConfig | None = None,
        service: ServiceInput | None = None,
        options: Options | None = None,
    ) -> LLMCapacityPlan:
        """A serving plan (``LLMCapacityPlan``)."""
        from lf_planner.inference import generate_inference_plan

        return generate_inference_plan(
            InferenceConfig(
                workload=workload,
                model=model,
                gpu=gpu or GPUConfig(),
                service=service or ServiceInput(),
                options=self._options(options),
                efficiency=self.efficiency,
                constants=self.constants,
            ),
            self._catalog_for(options),
        )

    def generate_training_plan(
        self,
        training: TrainingInput,
        model: ModelConfig,
        gpu: GPUConfig | None = None,
        service: ServiceInput | None = None,
        options: Options | None = None,
    ) -> TrainingCapacityPlan:
        """A fine-tuning plan (``TrainingCapacityPlan``)."""
        from lf_planner.training import generate_training_plan

        return generate_training_plan(
            TrainingConfig(
                training=training,
                model=model,
                gpu=gpu or GPUConfig(),
                service=service or ServiceInput(),
                options=self._options(options),
                efficiency=self.efficiency,
                constants=self.constants,
            ),
            self._catalog_for(options),
        )

    def _catalog_for(self, options: Options | None) -> Catalog:
        chosen = options.hardware_file if options else None
        return load_catalog(chosen) if chosen and chosen != self.hardware_file else self.catalog

    def plan(self, config: InferenceConfig | TrainingConfig) -> LLMCapacityPlan | TrainingCapacityPlan:
        """Plan a full config (what ``lf plan --config`` does)."""
        catalog = load_catalog(config.options.hardware_file) if config.options.hardware_file else self.catalog
        if isinstance(config, TrainingConfig):
            from lf_planner.training import generate_training_plan

            return generate_training_plan(config, catalog)
        from lf_planner.inference import generate_inference_plan

        return generate_inference_plan(config, catalog)
