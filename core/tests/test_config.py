"""Configs: files, overrides, environment, precedence, and errors a user can act on."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import pytest
import yaml

from lf.config import build_config, config_template, describe_fields
from lf.errors import ConfigError


class Lora(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    r: Annotated[int, msgspec.Meta(ge=1, description="LoRA rank")] = 8
    target_modules: list[str] = msgspec.field(default_factory=lambda: ["q_proj", "v_proj"])


class Cfg(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    model: Annotated[str, msgspec.Meta(description="Model directory or hub id")]
    learning_rate: float = 2e-4
    epochs: int = 1
    mode: Literal["full", "lora"] = "lora"
    bf16: bool = False
    lora: Lora = msgspec.field(default_factory=Lora)
    output_dir: str | None = None


def write(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_yaml_file_then_overrides_typed(tmp_path):
    p = write(tmp_path, "model: m\nlearning_rate: 1e-3\nlora:\n  r: 4\n")
    cfg = build_config(Cfg, file=p, overrides=["lora.r=16", "epochs=3", "bf16=true", "lora.target_modules=[a,b]"])
    assert cfg.learning_rate == 1e-3  # PyYAML reads 1e-3 as a string; it is still a float here
    assert (cfg.lora.r, cfg.epochs, cfg.bf16, cfg.lora.target_modules) == (16, 3, True, ["a", "b"])


def test_json_file(tmp_path):
    p = write(tmp_path, '{"model": "m", "epochs": 2}', "c.json")
    assert build_config(Cfg, file=p).epochs == 2


def test_precedence_file_env_set_flags(tmp_path):
    p = write(tmp_path, "model: m\nepochs: 1\nlearning_rate: 0.1\n")
    env = {"LF_SFT_EPOCHS": "5", "LF_SFT_LORA__R": "32", "LF_SFT_LEARNING_RATE": "0.2"}
    cfg = build_config(
        Cfg, file=p, env_component="sft", environ=env, overrides=["learning_rate=0.3"], flags={"model": "flag"}
    )
    assert (cfg.epochs, cfg.lora.r, cfg.learning_rate, cfg.model) == (5, 32, 0.3, "flag")


def test_malformed_yaml_names_file_and_line(tmp_path):
    p = write(tmp_path, "model: m\nlora:\n  r: [1, 2\n")
    with pytest.raises(ConfigError) as info:
        build_config(Cfg, file=p)
    assert str(p) in info.value.message and "invalid YAML" in info.value.message
    assert ":4:" in info.value.message or ":3:" in info.value.message


def test_malformed_json(tmp_path):
    p = write(tmp_path, '{"model": "m",}', "c.json")
    with pytest.raises(ConfigError, match=r"c.json:1:\d+: invalid JSON"):
        build_config(Cfg, file=p)


def test_wrong_type_names_field_line_expected_and_found(tmp_path):
    p = write(tmp_path, "model: m\nlora:\n  r: lots\n")
    with pytest.raises(ConfigError) as info:
        build_config(Cfg, file=p)
    msg = info.value.message
    assert f"{p}:3" in msg and "lora.r" in msg and "int" in msg and "'lots'" in msg


def test_constraint_violation(tmp_path):
    with pytest.raises(ConfigError, match=r"lora.r.*>= 1.*found 0"):
        build_config(Cfg, data={"model": "m"}, overrides=["lora.r=0"])


def test_unknown_field_suggests_the_closest(tmp_path):
    p = write(tmp_path, "model: m\nlearning_rat: 1\n")
    with pytest.raises(ConfigError) as info:
        build_config(Cfg, file=p)
    assert "unknown option 'learning_rat'" in info.value.message and f"{p}:2" in info.value.message
    assert "Did you mean 'learning_rate'" in (info.value.hint or "")


def test_missing_required_field():
    with pytest.raises(ConfigError) as info:
        build_config(Cfg)
    assert "'model' is required" in info.value.message and "--set model=" in (info.value.hint or "")


def test_bad_literal():
    with pytest.raises(ConfigError, match="mode"):
        build_config(Cfg, data={"model": "m", "mode": "qlora2"})


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        build_config(Cfg, file=tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="directory"):
        build_config(Cfg, file=tmp_path)


def test_top_level_must_be_mapping(tmp_path):
    with pytest.raises(ConfigError, match="mapping"):
        build_config(Cfg, file=write(tmp_path, "- a\n- b\n"))


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        build_config(Cfg, data={"model": "m"}, overrides=["epochs"])
    with pytest.raises(ConfigError, match="is a value, not a section"):
        build_config(Cfg, data={"model": "m"}, overrides=["epochs=1", "epochs.x=1"])


def test_template_documents_every_field_and_parses_back_to_defaults():
    text = config_template(Cfg, "test")
    assert "# LoRA rank" in text and "model:  # REQUIRED" in text and "one of: full, lora" in text
    data = yaml.safe_load(text)
    data["model"] = "m"
    assert build_config(Cfg, data=data) == Cfg(model="m")
    paths = {d.path for d in describe_fields(Cfg)}
    assert {"lora.r", "lora.target_modules", "output_dir"} <= paths


# --- errors name where the bad value came from ----------------------------------------------------


def test_limit_error_names_the_set_argument_the_field_and_the_limit(tmp_path):
    p = write(tmp_path, "model: m\nlora:\n  r: 4\n")
    with pytest.raises(ConfigError) as info:
        build_config(Cfg, file=p, overrides=["lora.r=0"])
    msg = info.value.message
    assert msg.startswith("--set lora.r=0: ") and "'lora.r'" in msg and ">= 1" in msg and "found 0" in msg
    assert str(p) not in msg  # the file held a good value: it is not to blame
    assert info.value.hint == "'lora.r': LoRA rank"


def test_error_names_the_environment_variable(tmp_path):
    p = write(tmp_path, "model: m\n")
    with pytest.raises(ConfigError) as info:
        build_config(Cfg, file=p, env_component="sft", environ={"LF_SFT_LORA__R": "0"})
    assert info.value.message.startswith("environment variable LF_SFT_LORA__R=0: 'lora.r'")


def test_error_names_the_file_line_when_the_file_holds_the_value(tmp_path):
    p = write(tmp_path, "model: m\nepochs: 2\nlora:\n  r: 0\n")
    with pytest.raises(ConfigError) as info:
        build_config(Cfg, file=p, overrides=["epochs=3"])
    assert info.value.message.startswith(f"{p}:4: 'lora.r'")


def test_error_names_the_flag_and_a_section_replaced_by_set(tmp_path):
    with pytest.raises(ConfigError, match=r"^--epochs lots: 'epochs'"):
        build_config(Cfg, data={"model": "m"}, flags={"epochs": "lots"})
    with pytest.raises(ConfigError, match=r"^--lora-r 0: 'lora.r': expected `int` >= 1"):
        build_config(Cfg, data={"model": "m"}, flags={"lora.r": 0})  # a nested option's flag, spelled as typed
    with pytest.raises(ConfigError, match=r"^the MODEL argument \(3\): 'model'"):
        build_config(Cfg, flags={"model": 3}, positionals=("model",))
    p = write(tmp_path, "model: m\nlora:\n  r: 4\n")
    with pytest.raises(ConfigError, match=r"^--set lora=\{r: 0\}: 'lora.r'"):
        build_config(Cfg, file=p, overrides=["lora={r: 0}"])
    with pytest.raises(ConfigError, match=r"^the options passed in: unknown option 'lora.x'"):
        build_config(Cfg, data={"model": "m", "lora": {"x": 1}})


class Checked(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    low: int = 0
    high: int = 10
    calls: int = 0

    def validate(self) -> None:
        from lf.config import invalid

        if self.low >= self.high:
            raise invalid(("low", "high"), f"'low' ({self.low}) must be below 'high' ({self.high}).", hint="Swap them.")


def test_validate_method_runs_and_its_error_names_the_sources(tmp_path):
    p = write(tmp_path, "low: 3\n")
    assert build_config(Checked, file=p).low == 3
    with pytest.raises(ConfigError) as info:
        build_config(Checked, file=p, overrides=["high=2"])
    assert info.value.message == f"{p}:1, --set high=2: 'low' (3) must be below 'high' (2)."
    assert info.value.hint == "Swap them." and info.value.details["fields"] == ["low", "high"]


def test_validate_config_rechecks_limits_of_a_struct_built_in_python():
    from lf.config import validate_config

    assert validate_config(Cfg(model="m")).model == "m"
    with pytest.raises(ConfigError, match=r"'lora.r': expected `int` >= 1, found 0"):
        validate_config(Cfg(model="m", lora=Lora(r=0)))  # msgspec does not check limits in __init__
    with pytest.raises(ConfigError, match=r"^'low' \(5\) must be below"):
        validate_config(Checked(low=5, high=1))


def test_template_and_descriptions_show_limits():
    assert "# LoRA rank (>= 1)" in config_template(Cfg)
    assert {d.path: d.limits for d in describe_fields(Cfg)}["lora.r"] == ">= 1"
