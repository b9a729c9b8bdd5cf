"""The storage and reproducibility options are checked before anything loads (nothing is trained here)."""

from __future__ import annotations

import pytest

from lf.config import validate_config
from lf.errors import ConfigError
from lf_trainer_sft.config import SFTConfig


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"streaming": True}, "cannot count epochs"),
        ({"streaming": True, "max_steps": 5, "val_ratio": 0.1}, "cannot be combined with val_ratio"),
        ({"streaming": True, "max_steps": 5, "packing": True}, "cannot be combined with packing"),
        ({"data_subset": "en"}, "apply to a Hugging Face hub dataset"),
        ({"data_split": "test"}, "apply to a Hugging Face hub dataset"),
        ({"model_revision": "v1"}, "model_revision pins a Hugging Face hub model"),
    ],
)
def test_refused_combinations_name_the_options(options, message):
    config = SFTConfig(model="tiny", data="examples/data/chat.jsonl", **options)
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_accepted_combinations():
    validate_config(SFTConfig(model="tiny", data="examples/data/chat.jsonl", streaming=True, max_steps=3))
    validate_config(SFTConfig(model="org/model", model_revision="v1", data="org/data", data_subset="en"))
    validate_config(SFTConfig(model="tiny", data="s3://bucket/chat.jsonl", output_dir="s3://bucket/run"))
