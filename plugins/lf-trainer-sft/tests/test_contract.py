from __future__ import annotations

import lf_trainer_sft
from lf.testing import check_plugin, run_cli


def test_contract() -> None:
    assert [s.name for s in check_plugin(lf_trainer_sft)] == ["sft", "pretrain"]


def test_every_field_has_a_default_or_a_clear_required_error(tmp_path) -> None:
    from lf.config import describe_fields
    from lf_trainer_sft.config import PretrainConfig, SFTConfig

    for cfg in (SFTConfig, PretrainConfig):
        required = {d.path for d in describe_fields(cfg) if d.required}
        assert required == {"model", "data"}
    result = run_cli("run", "train", "--plugin", "sft", "--set", "data=x.jsonl")
    assert result.returncode == 3
    assert "'model' is required" in result.stderr


def test_commands_are_registered() -> None:
    result = run_cli("merge", "lora", "--help")
    assert result.returncode == 0 and "BASE" in result.stdout and "--dtype" in result.stdout
    result = run_cli("data", "preview", "--help")
    assert result.returncode == 0 and "--tokenizer" in result.stdout
    result = run_cli("run", "--help")
    assert "--nproc" in result.stdout and "--launcher" in result.stdout
