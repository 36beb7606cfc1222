from pathlib import Path

import pytest

from w2s.config import load_config
from w2s.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_quickstart_config_loads():
    config = load_config("configs/quickstart.yaml")
    assert config.rounds >= 2 and config.teachers == ["pyiqa:piqe", "pyiqa:entropy"]
    assert not set(config.eval.ood) & set(config.distortions)


def test_unknown_key_names_it_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'pairs.teacher_pair': did you mean 'teacher_pairs'"):
        load_config(write(tmp_path, "pairs: {teacher_pair: 3}\n"))


def test_wrong_type_names_key_and_value(tmp_path):
    with pytest.raises(ConfigError, match=r"train.epochs must be int, got 'ten'"):
        load_config(write(tmp_path, "train: {epochs: ten}\n"))


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    assert load_config(write(tmp_path, "train: {lr: 1e-3}\n")).train.lr == pytest.approx(1e-3)


def test_overrides_and_validation(tmp_path):
    path = write(tmp_path, "name: a\n")
    assert load_config(path, ["rounds=4", "pairs.ensemble=reliability"]).rounds == 4
    with pytest.raises(ConfigError, match="rounds must be at least 1"):
        load_config(path, ["rounds=0"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(path, ["rounds"])


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


VLM_CONFIGS = ["qwen2_vl_2b", "qwen2_5_vl_7b", "llava_onevision_7b", "w2s_paper"]


def test_every_shipped_config_loads():
    names = sorted(p.stem for p in Path("configs").glob("*.yaml"))
    assert {"quickstart", "temporal", *VLM_CONFIGS} <= set(names)
    for name in names:
        config = load_config(Path("configs") / f"{name}.yaml")
        assert config.name == name
        assert config.student.backbone.startswith("vlm:") == (name in VLM_CONFIGS)
        assert config.student.motion


def test_temporal_config_passes_the_name_check():
    from w2s.run import check_names

    check_names(load_config("configs/temporal.yaml"))


@pytest.mark.parametrize("name", ["qwen2_vl_2b", "qwen2_5_vl_7b", "llava_onevision_7b"])
def test_real_model_configs_pass_the_name_check_without_weights(name):
    """Hub ids are accepted before anything loads: a missing model fails when it is built, with its own message."""
    from w2s.run import check_names

    check_names(load_config(Path("configs") / f"{name}.yaml"))


def test_paper_recipe_names_the_score_table_a_user_must_supply():
    from w2s.errors import W2SError
    from w2s.run import check_names

    config = load_config("configs/w2s_paper.yaml")
    assert len(config.teachers) == 5 and config.rounds == 3
    assert set(config.distortions) == {"resize", "blur", "noise", "darken", "brighten", "jitter", "stutter", "h264", "h265"}
    with pytest.raises(W2SError, match="teacher_scores/dover_lsvq.csv: no such file"):
        check_names(config)
