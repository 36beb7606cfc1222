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
