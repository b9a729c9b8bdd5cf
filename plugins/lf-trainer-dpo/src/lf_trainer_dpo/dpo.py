"""The ``dpo`` and ``orpo`` trainers, on TRL's DPOTrainer and ``trl.experimental.orpo``.

The policy starts from ``model``: an ``lf train sft`` output directory (its LoRA adapter
is merged into the base in memory; a merged directory loads as is) or any model. The
reference is, in order: none (``reference_free``), ``ref_model`` loaded frozen, or the
starting policy itself - under LoRA the new adapter disabled (no second copy), under
full fine-tuning a frozen copy of the starting weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from lf.components import Events, TrainResult
from lf_trainer_dpo.config import DPOConfig, ORPOConfig
from lf_trainer_sft.trainer_kit import BaseTrainJob

_REWARD_KEYS = {
    "rewards/accuracies": "reward_accuracy",
    "rewards/margins": "reward_margin",
    "rewards/chosen": "reward_chosen",
    "rewards/rejected": "reward_rejected",
}


class _PreferenceJob(BaseTrainJob):
    shape: ClassVar[str] = "preference"
    default_lr: ClassVar[tuple[float, float]] = (5e-6, 5e-7)

    def learning_rate(self) -> float:
        lr = self.config.learning_rate
        lora, full = self.default_lr
        return float(lr) if lr is not None else (lora if self.config.method == "lora" else full)

    def _load_model(self, model_path: str, tokenizer: Any) -> Any:
        """The starting policy, without a new adapter: TRL attaches it (so the reference is 'adapter disabled')."""
        from lf_trainer_sft.trainer_kit import load_model

        c = self.config
        return load_model(
            model_path, dtype=c.dtype, quantization=c.quantization, attn_implementation=c.attn_implementation
        )

    def _peft_config(self, model: Any) -> Any:
        if self.config.method != "lora":
            return None
        from lf_trainer_sft.trainer_kit import peft_config

        return peft_config(self.config.lora, model)

    def _extra_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for record in reversed(records):
            for key, name in _REWARD_KEYS.items():
                if key in record and name not in out:
                    out[name] = float(record[key])
        return out


class DPOTrainer(_PreferenceJob):
    """Direct Preference Optimization; ``DPOTrainer().run(DPOConfig(...), events)``."""

    component: ClassVar[str] = "dpo"

    def run(self, config: DPOConfig, events: Events) -> TrainResult:
        """Train; see :class:`~lf_trainer_dpo.config.DPOConfig` for every option."""
        return super().run(config, events)

    def _data_options(self) -> dict[str, Any]:
        c = self.config
        reference = "none" if c.reference_free else (c.ref_model or "implicit")
        limits = {"max_prompt_length": self._prompt_limit(), "max_completion_length": c.max_completion_length}
        return {"max_length": c.max_length, "reference": reference, **limits}

    def _prompt_limit(self) -> int:
        from lf_trainer_dpo.truncation import prompt_limit

        return prompt_limit(self.config.max_prompt_length, self.config.max_length)

    def _warn_truncated(self, name: str, count: int | None, total: int | None) -> None:
        """One warning per dataset that counts the pairs max_prompt_length / max_completion_length cut."""
        from lf_trainer_dpo.truncation import truncation_warning

        text = truncation_warning(name, count, total, self._prompt_limit(), self.config.max_completion_length)
        if text:
            self.events.message(text, "warning")

    def _resolved_extra(self) -> dict[str, Any]:
        """What the reference model is (``ref_model: null`` leaves it to the method)."""
        c = self.config
        if c.reference_free:
            reference = "none (reference_free)"
        elif c.ref_model:
            reference = self.ref_model_path
        elif c.method == "lora":
            reference = "the starting policy (the adapter disabled)"
        else:
            reference = "a frozen copy of the starting policy"
        return {"ref_model": reference, "max_prompt_length": self._prompt_limit()}

    def _build_trainer(self, model: Any, tokenizer: Any, train: Any, evals: Any | None, callbacks: list[Any]) -> Any:
        from trl import DPOConfig as TRLConfig

        c = self.config
        args = TRLConfig(
            **self.training_args(has_eval=evals is not None),
            max_length=c.max_length,
            beta=c.beta,
            loss_type=["robust" if c.label_smoothing else c.loss_type],
            label_smoothing=c.label_smoothing,
            precompute_ref_log_probs=c.reference_free,
            dataset_num_proc=None,
        )
        ref_model = None
        if c.ref_model:
            from lf.models import resolve_model

            self.ref_model_path = resolve_model(c.ref_model, events=self.events)
            ref_model = self._frozen(self.ref_model_path)
        elif c.method == "full" and not c.reference_free:
            ref_model = self._frozen(self.model_path)  # the starting weights (an SFT adapter merged in)
        cls = _trainer_class(c.reference_free, (self._prompt_limit(), c.max_completion_length), self._warn_truncated)
        return cls(
            model=model,
            ref_model=ref_model,
            args=args,
            train_dataset=train,
            eval_dataset=evals,
            processing_class=tokenizer,
            callbacks=callbacks,
            peft_config=self._peft_config(model),
        )

    def _frozen(self, path: str) -> Any:
        from lf_trainer_sft.trainer_kit import load_model

        ref = load_model(path, dtype=self.config.dtype, attn_implementation=self.config.attn_implementation)
        ref.eval().requires_grad_(False)
        return ref


def _trainer_class(reference_free: bool, limits: tuple[int, int | None], warn: Callable[..., None]) -> Any:
    """TRL's DPOTrainer with the prompt/reply limits TRL 1.x dropped (and a uniform reference when asked)."""
    from trl import DPOTrainer as TRLTrainer

    from lf_trainer_dpo.truncation import truncate_pairs

    class LimitedDPO(TRLTrainer):
        """Prompts cut from the left to max_prompt_length, replies from the right to max_completion_length."""

        def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
            # TRL drops pairs whose prompt alone fills max_length; ours are cut first, so keep them all.
            max_length, args.max_length = args.max_length, None
            try:
                tokenized = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
            finally:
                args.max_length = max_length
            cut, count = truncate_pairs(tokenized, *limits)
            warn(dataset_name, count, len(tokenized) if count is not None else None)
            return cut

    class ReferenceFreeDPO(LimitedDPO):
        """DPO against a uniform reference: every reference log-probability is 0."""

        def _precompute_ref_logps(self, dataset: Any, name: str, batch_size: int) -> Any:
            zeros = [0.0] * len(dataset)
            return dataset.add_column("ref_chosen_logps", zeros).add_column("ref_rejected_logps", list(zeros))

    return ReferenceFreeDPO if reference_free else LimitedDPO


class ORPOTrainer(_PreferenceJob):
    """Odds Ratio Preference Optimization; ``ORPOTrainer().run(ORPOConfig(...), events)``."""

    component: ClassVar[str] = "orpo"
    default_lr: ClassVar[tuple[float, float]] = (5e-5, 5e-6)

    def run(self, config: ORPOConfig, events: Events) -> TrainResult:
        """Train; see :class:`~lf_trainer_dpo.config.ORPOConfig` for every option."""
        return super().run(config, events)

    def _data_options(self) -> dict[str, Any]:
        return {"max_length": self.config.max_length}

    def _build_trainer(self, model: Any, tokenizer: Any, train: Any, evals: Any | None, callbacks: list[Any]) -> Any:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # trl.experimental announces itself on import
            from trl.experimental.orpo import ORPOConfig as TRLConfig
            from trl.experimental.orpo import ORPOTrainer as TRLTrainer

        c = self.config
        args = TRLConfig(**self.training_args(has_eval=evals is not None), max_length=c.max_length, beta=c.beta)
        return TRLTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=evals,
            processing_class=tokenizer,
            callbacks=callbacks,
            peft_config=self._peft_config(model),
        )
