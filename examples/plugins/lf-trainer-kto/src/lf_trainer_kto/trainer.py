"""The KTO job: preference pairs -> unpaired examples -> TRL's KTOTrainer."""

from __future__ import annotations

from typing import Any

from lf.components import Events, TrainResult
from lf_trainer_kto import KTOConfig


def unpair(rows: Any) -> dict[str, list[Any]]:
    """Each prompt/chosen/rejected row becomes a desirable and an undesirable example."""
    out: dict[str, list[Any]] = {"prompt": [], "completion": [], "label": []}
    for row in rows:
        for completion, label in ((row["chosen"], True), (row["rejected"], False)):
            out["prompt"].append(row["prompt"])
            out["completion"].append(completion)
            out["label"].append(label)
    return out


class KTOTrainerJob:
    """``run`` trains with KTO and saves model + tokenizer atomically."""

    def run(self, config: KTOConfig, events: Events) -> TrainResult:
        """Train for ``config.max_steps`` steps."""
        import tempfile

        from datasets import Dataset
        from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
        from trl import KTOConfig as TRLKTOConfig
        from trl import KTOTrainer

        from lf.atomic import atomic_directory
        from lf.data import load_for_training

        pairs = load_for_training(config.data, "preference")  # bad data stops before the model loads
        dataset = Dataset.from_dict(unpair(pairs))
        tokenizer = AutoTokenizer.from_pretrained(config.model)
        model = AutoModelForCausalLM.from_pretrained(config.model)
        losses: list[float] = []

        class Progress(TrainerCallback):  # type: ignore[misc]
            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
                if logs and "loss" in logs:
                    losses.append(float(logs["loss"]))
                    events.progress("kto", state.global_step, config.max_steps, loss=losses[-1])

        with tempfile.TemporaryDirectory() as scratch:
            args = TRLKTOConfig(
                output_dir=scratch,
                max_steps=config.max_steps,
                learning_rate=config.learning_rate,
                beta=config.beta,
                per_device_train_batch_size=config.batch_size,
                desirable_weight=config.desirable_weight,
                undesirable_weight=config.undesirable_weight,
                max_length=config.max_length,
                logging_steps=1,
                save_strategy="no",
                report_to=[],
                seed=config.seed,
                use_cpu=True,
            )
            trainer = KTOTrainer(
                model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=[Progress()]
            )
            trainer.train()
        with atomic_directory(config.output_dir, overwrite=True) as staging:
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
        events.artifact("model", config.output_dir)
        metrics = {"first_loss": losses[0], "last_loss": losses[-1]} if losses else {}
        return TrainResult(output_dir=config.output_dir, metrics=metrics, global_step=config.max_steps)
