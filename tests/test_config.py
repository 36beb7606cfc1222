import re
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
    assert config.rounds >= 2 and config.teachers == ["pyiqa:piqe", "pyiqa:entropy", "fr:psnr", "fr:gmsd", "fr:nlpd"]
    assert not set(config.eval.ood) & set(config.distortions)
    # the levers benchmarks/ablate_w2s.py chose on the training pool (README: "Keeping what the teachers know")
    assert config.pairs.ensemble == "reliability" and config.pairs.fr_pairs > 0 and config.eval.lofo == "first"
    assert config.train.shares is None and not config.teacher_only and not config.student.nss


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


VLM_CONFIGS = ["qwen2_vl_2b", "qwen2_5_vl_7b", "llava_onevision_7b", "w2s_paper", "w2s_paper_comparative"]


def test_every_shipped_config_loads():
    names = sorted(p.stem for p in Path("configs").glob("*.yaml"))
    assert {"quickstart", "temporal", *VLM_CONFIGS} <= set(names)
    for name in names:
        config = load_config(Path("configs") / f"{name}.yaml")
        assert config.name == name
        assert config.student.backbone.startswith("vlm:") == (name in VLM_CONFIGS)
        assert config.student.motion


def test_temporal_config_passes_the_name_check():
    from w2s.errors import W2SError
    from w2s.run import check_names

    path = "configs/temporal.yaml"
    check_names(load_config(path))  # as shipped: every teacher, family and the backbone is known
    # ... and the check reads this config: one letter off a teacher, or a held-out temporal
    # family also trained on, is refused with its name (a check_names that checked nothing
    # would pass the line above too)
    with pytest.raises(W2SError, match="unknown classic metric 'jerkines': did you mean 'jerkiness'"):
        check_names(load_config(path, ["teachers=[pyiqa:piqe, classic:jerkines]"]))
    with pytest.raises(ConfigError, match=r"eval.ood families \['flicker'\] are also training distortions"):
        check_names(load_config(path, ["distortions.flicker=null"]))


@pytest.mark.parametrize("name", ["qwen2_vl_2b", "qwen2_5_vl_7b", "llava_onevision_7b"])
def test_real_model_configs_pass_the_name_check_without_weights(name, tmp_path, monkeypatch):
    """Hub ids are accepted before anything loads: a missing model fails when it is built, with its own message."""
    import huggingface_hub.constants

    from w2s.errors import MissingWeightsError
    from w2s.run import check_names

    # an empty hub cache: the check must not depend on weights being there
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_hub"))
    path = Path("configs") / f"{name}.yaml"
    config = load_config(path)
    assert config.student.backbone.startswith("vlm:") and "/" in config.student.backbone  # a hub id, not a folder
    check_names(config)
    # the same config pointing at a folder that is not there is refused, naming it: the
    # backbone reference is checked, only the download is left to build time
    missing = tmp_path / "no_model_here"
    with pytest.raises(MissingWeightsError, match=re.escape(f"vlm:{missing}: no model folder at {missing}")):
        check_names(load_config(path, [f"student.backbone=vlm:{missing}"]))


def test_paper_recipe_names_the_score_table_a_user_must_supply():
    from w2s.errors import W2SError
    from w2s.run import check_names

    config = load_config("configs/w2s_paper.yaml")
    assert len(config.teachers) == 5 and config.rounds == 3
    assert set(config.distortions) == {"resize", "blur", "noise", "darken", "brighten", "jitter", "stutter", "h264", "h265"}
    with pytest.raises(W2SError, match="teacher_scores/dover_lsvq.csv: no such file"):
        check_names(config)


@pytest.mark.parametrize("override, message", [
    ("student.prior=ensemble", "student.prior must be 'none' or 'teachers', got 'ensemble'"),
    ("pairs.fr_scope=across", "pairs.fr_scope must be 'any' or 'within', got 'across'"),
    ("pairs.student_votes=never", "pairs.student_votes must be 'both' or 'within', got 'never'"),
    ("train.checkpoint_every=-1", "train.checkpoint_every must be 0 (never) or a number of epochs, got -1"),
])
def test_choice_keys_name_the_key_and_the_choices(override, message, tmp_path):
    from w2s.errors import ConfigError

    (tmp_path / "c.yaml").write_text("name: t\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "c.yaml", [override])
    assert message in str(err.value)


def test_a_config_field_added_since_a_run_started_at_its_default_is_no_change():
    """A run folder recorded before a field existed resumes; changing it, or a mapping's entries, does not."""
    import copy

    from w2s.config import RunConfig
    from w2s.run import config_changes

    current = RunConfig().to_dict()
    recorded = copy.deepcopy(current)
    del recorded["student"]["head"], recorded["student"]["comparative"]  # as written before those fields existed
    assert config_changes(recorded, current) == []
    current["student"]["head"] = "quality_prompts"
    assert config_changes(recorded, current) == ["student.head"]
    current = RunConfig().to_dict()
    current["rounds"] = 7  # more rounds: a finished run goes on
    assert config_changes(recorded, current) == []
    current["distortions"] = {"blur": None}  # a family dropped from a mapping is a change
    assert config_changes(recorded, current) == ["distortions"]
