import re
from pathlib import Path

import pandas as pd
import pytest

from w2s.config import load_config
from w2s.core.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_quickstart_config_loads():
    config = load_config("configs/quickstart.yaml")
    assert config.rounds >= 2 and config.teachers == ["pyiqa:piqe", "pyiqa:entropy", "niqe:pristine", "classic:brisque",
                                                      "classic:sharpness", "fr:psnr", "fr:gmsd", "fr:nlpd"]
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
    with pytest.raises(ConfigError, match="rounds must be at least 1, got 0"):
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
    from w2s.core.errors import W2SError
    from w2s.run.context import check_names

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

    from w2s.core.errors import MissingWeightsError
    from w2s.run.context import check_names

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
    from w2s.core.errors import W2SError
    from w2s.run.context import check_names

    config = load_config("configs/w2s_paper.yaml")
    assert len(config.teachers) == 5 and config.rounds == 3
    assert set(config.distortions) == {"resize", "blur", "noise", "darken", "brighten", "jitter", "stutter", "h264", "h265"}
    with pytest.raises(W2SError, match="teacher_scores/dover_lsvq.csv: no such file"):
        check_names(config)


@pytest.mark.parametrize("override, message", [
    ("student.prior=ensemble", "student.prior: 'ensemble' is not one of none, teachers"),
    ("pairs.fr_scope=across", "pairs.fr_scope: 'across' is not one of any, within"),
    ("pairs.student_votes=never", "pairs.student_votes: 'never' is not one of both, within"),
    ("pairs.ensemble=foo", "pairs.ensemble: 'foo' is not one of equal, reliability"),
    ("student.kind=pairwise", "student.kind: 'pairwise' is not one of single, comparative"),
    ("train.loss=fidelty", "train.loss: 'fidelty' is not one of fidelity, ranknet, margin; did you mean 'fidelity'?"),
    ("student.head=mpl", "student.head: 'mpl' is not one of mlp, quality_prompts; did you mean 'mlp'?"),
    ("eval.lofo=null", "eval.lofo: null is not one of none, first, all"),
    ("eval.lofo=false", "eval.lofo: False is not one of none, first, all"),
    ("train.checkpoint_every=-1", "train.checkpoint_every must be 0 (never) or at least 1, got -1"),
])
def test_choice_keys_name_the_key_and_the_choices(override, message, tmp_path):
    from w2s.core.errors import ConfigError

    (tmp_path / "c.yaml").write_text("name: t\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "c.yaml", [override])
    assert message in str(err.value)


def test_a_config_field_added_since_a_run_started_at_its_default_is_no_change():
    """A run folder recorded before a field existed resumes; changing it, or a mapping's entries, does not."""
    import copy

    from w2s.config import RunConfig
    from w2s.run.provenance import config_changes

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


# --- every key documented once, on its field; choices typed; `w2s config` shows them -------------


def test_every_key_of_every_section_has_help():
    import dataclasses
    import typing

    from w2s.config import RunConfig, explain

    def sections(cls):
        yield cls
        for hint in typing.get_type_hints(cls).values():
            if dataclasses.is_dataclass(hint):
                yield from sections(hint)

    seen = set()
    for cls in sections(RunConfig):
        assert (cls.__doc__ or "").strip() and "\n" not in cls.__doc__.strip(), f"{cls.__name__}: a one-line docstring"
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help", "").strip(), f"{cls.__name__}.{f.name} has no help"
        seen.add(cls.__name__)
    assert {"PoolConfig", "PairsConfig", "HardCasesConfig", "ComparativeConfig", "StudentConfig", "TrainConfig",
            "EvalConfig"} <= seen
    rows = explain()
    assert all(r.help.strip() for r in rows) and len({r.key for r in rows}) == len(rows)
    assert "student.comparative.anchors" in {r.key for r in rows}


def test_explain_shows_a_literal_as_its_words_with_its_default():
    from w2s.config import explain

    rows = {r.key: r for r in explain()}
    assert rows["pairs.ensemble"].type == "equal | reliability" and rows["pairs.ensemble"].default == "reliability"
    assert rows["eval.lofo"].type == "none | first | all"
    assert rows["pool.max_side"].type == "int" and rows["pool.max_side"].default == "320"
    assert rows["train.shares"].type == "dict | null" and rows["train.shares"].default == "null"
    assert rows["student.backbone"].type == "str | list"
    assert rows["pool.sampler"].default == "{name: uniform, num_frames: 4}"
    assert "fidelity" in rows["train.loss"].help
    assert [r.key for r in explain("pairs")] == [k for k in rows if k.startswith("pairs.")]
    assert {r.key for r in explain("student.comparative")} == {k for k in rows if k.startswith("student.comparative.")}
    with pytest.raises(ConfigError, match="no config key starts with 'pair_'"):
        explain("pair_")


def test_the_choice_words_and_the_plugin_tables_agree():
    """The config's Literal is the source of the words; the tables that implement them must match it."""
    import typing

    from students.heads import HEAD_KINDS
    from w2s.config import HeadKind, LossName, StudentConfig, TrainConfig
    from w2s.run.losses import LOSSES

    assert set(typing.get_args(LossName)) == set(LOSSES)
    assert set(typing.get_args(HeadKind)) == set(HEAD_KINDS)
    hints = typing.get_type_hints
    assert hints(TrainConfig)["loss"] == LossName and hints(StudentConfig)["head"] == HeadKind


def test_w2s_config_prints_a_sections_keys(capsys):
    from w2s.cli import main

    assert main(["config", "pairs"]) == 0
    out = capsys.readouterr().out
    assert "pairs.ensemble" in out and "pairs.fr_scope" in out and "reliability" in out
    assert not re.search(r"\bpool\.\w", out) and "train.loss" not in out
    assert main(["config", "eval", "--markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| key | type | default | help |"
    assert "| `eval.lofo` | none \\| first \\| all | `none` |" in "\n".join(lines)
    assert all(line.startswith("| `eval.") for line in lines[2:])
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "pool.max_side" in out and "student.comparative.anchors" in out


def test_w2s_config_with_an_unknown_prefix_is_one_line(capsys):
    from w2s.cli import main

    assert main(["config", "pools"]) == 2
    assert "no config key starts with 'pools': did you mean 'pool'" in capsys.readouterr().err


# --- every number in its range, every ladder in its family's, before any work; messages to act on ----


@pytest.mark.parametrize("override, message", [
    ("pool.max_side=-5", "pool.max_side must be 0 (keeps them) or at least 16, got -5"),
    ("pool.limit=-1", "pool.limit must be 0 (all) or at least 1, got -1"),
    ("seed=-1", "seed must be at least 0, got -1"),
    ("rounds=0", "rounds must be at least 1, got 0"),
    ("train.epochs=0", "train.epochs must be at least 1, got 0"),
    ("train.batch_size=0", "train.batch_size must be at least 1, got 0"),
    ("train.lr=0", "train.lr must be above 0, got 0.0"),
    ("train.lr=.nan", "train.lr must be above 0, got nan"),
    ("student.dropout=1.0", "student.dropout must be in [0, 1), got 1.0"),
    ("student.hidden=-8", "student.hidden must be at least 0, got -8"),
    ("pairs.teacher_pairs=-1", "pairs.teacher_pairs must be at least 0, got -1"),
    ("pairs.gap1_p=0.3", "pairs.gap1_p must be in [0.5, 1], got 0.3"),
    ("hard_cases.folds=1", "hard_cases.folds must be at least 2, got 1"),
    ("student.comparative.lr=-1e-4", "student.comparative.lr must be above 0, got -0.0001"),
    ("eval.limit=-2", "eval.limit must be 0 (all) or at least 1, got -2"),
    ("pool.sampler={name: uniform, num_frames: 0}",
     "pool.sampler: sampler 'uniform': num_frames must be an integer >= 1, got 0"),
    ("distortions.noise=[0.5, 1.5]", "distortions.noise: ladder value 1.5 is invalid: sigma must be in (0, 1]"),
    ("distortions.jpeg=[30, 120]", "distortions.jpeg: ladder value 120 is invalid: quality must be an integer in 1..100"),
    ("eval.ood.h265=[30, 60]", "eval.ood.h265: ladder value 60 is invalid: CRF must be an integer in 0..51"),
    ("teacher_only={sharpen: [1, -1]}", "teacher_only.sharpen: ladder value -1 is invalid: amount must be > 0"),
])
def test_a_value_out_of_range_names_the_file_key_value_and_range(override, message, tmp_path):
    path = write(tmp_path, "name: t\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, [override])
    assert str(err.value) == f"{path}: {message}" or str(err.value).startswith(f"{path}: {message} (ladder ")


def test_values_at_the_ends_of_their_ranges_load(tmp_path):
    config = load_config(write(tmp_path, "name: t\n"), [
        "pool.max_side=0", "pool.max_side=16", "student.dropout=0", "pairs.gap1_p=1", "distortions.noise=[0.5, 1.0]",
        "train.checkpoint_every=0", "hard_cases.folds=2", "pairs.fr_pairs=0"])
    assert config.pool.max_side == 16 and config.distortions["noise"] == [0.5, 1.0]


def test_a_yaml_syntax_error_names_the_file_line_and_column(tmp_path):
    path = write(tmp_path, "name: t\npairs: {teacher_pairs: 3\ntrain: {lr: 1}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (f"{path}, line 3, column 6: not valid YAML: while parsing a flow mapping begun at "
                              "line 2, column 8, expected ',' or '}', but got ':'")
    with pytest.raises(ConfigError, match=r"^override 'rounds=\[1,', line 1, column 4: not valid YAML: "):
        load_config(write(tmp_path, "name: t\n"), ["rounds=[1,"])


def test_a_choice_key_set_to_null_in_a_file_lists_its_words(tmp_path):
    path = write(tmp_path, "name: t\neval: {lofo: null}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: eval.lofo: null is not one of none, first, all"


def test_a_run_that_failed_before_any_result_takes_the_corrected_config(tiny_config, tmp_path, capsys):
    """Every video of the first attempt failed: the corrected config reruns in the same folder."""
    from w2s.cli import main
    from w2s.config import load_run_config

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.mp4").write_bytes(b"")
    cfg = str(tiny_config("fixed"))
    assert main(["run", cfg, "--set", f"pool.source={broken}", "--set", "eval.source=none"]) == 2
    assert "no readable video" in capsys.readouterr().err
    run = tmp_path / "runs" / "fixed"
    assert (run / "config.yaml").is_file() and (run / "manifest.parquet").is_file()
    assert main(["run", cfg, "--set", "eval.source=none", "--stop-after", "label"]) == 0  # the pool fixed
    assert "different config" not in capsys.readouterr().err
    assert load_run_config(run).pool.source == load_config(cfg).pool.source  # the new config recorded
    assert len(pd.read_parquet(run / "manifest.parquet")) == 4  # scanned again: the tiny pool's 4 videos


def test_only_a_folder_without_results_is_restarted(tiny_config, tmp_path):
    from w2s.run.context import restart_without_results
    from w2s.run.folder import RunFolder
    from w2s.run.provenance import write_run_config

    config = load_config(tiny_config("failed"))
    folder = RunFolder(config.run_dir)
    write_run_config(config, folder.config)
    shards = folder.label / "shards"
    shards.mkdir(parents=True)
    (shards / "a.failed.json").write_text("{}")  # the one video tried failed
    changed = load_config(tiny_config("failed"), ["pool.max_side=128"])
    restart_without_results(changed, folder)
    assert not folder.label.exists() and not folder.config.exists()
    write_run_config(config, folder.config)
    shards.mkdir(parents=True)
    (shards / "b.parquet").write_bytes(b"")  # a labelled video: a result
    restart_without_results(changed, folder)
    with pytest.raises(ConfigError, match=r"different config \(pool.max_side changed\)"):
        write_run_config(changed, folder.config)
