"""The defaults are the best measured recipe (configs/quickstart.yaml; README: "Keeping what the teachers
know"), and every shipped config keeps it or says, on a `# recipe: KEY differs because ...` line, why not."""

import itertools
import re
from pathlib import Path

import pytest

from w2s.config import RunConfig, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# the levers benchmarks/ablate_w2s.py measured, the teachers and pairs chosen on the dev photos (README: "Real human
# opinion"), and the training settings they were measured with
RECIPE = {
    "teachers": ["pyiqa:piqe", "pyiqa:entropy", "niqe:pristine", "classic:brisque", "classic:sharpness",
                 "fr:psnr", "fr:gmsd", "fr:nlpd"],
    "pairs.teacher_pairs": 60000,
    "pairs.clean_pairs": 20000,
    "pairs.fr_pairs": 20000,
    "pairs.fr_scope": "within",
    "pairs.student_votes": "within",
    "pairs.ensemble": "reliability",
    "hard_cases.folds": 4,
    "hard_cases.teacher": 2000,
    "student.prior": "teachers",
    "student.hidden": 128,
    "student.dropout": 0.1,
    "train.loss": "fidelity",
    "train.epochs": 20,
    "train.batch_size": 512,
    "train.lr": 1e-3,
}


def value(config, key: str):
    for part in key.split("."):
        config = getattr(config, part)
    return config


def departures(path: Path) -> tuple[list[str], list[str]]:
    """(recipe keys the config changes without a `# recipe: KEY differs because ...` line,
    keys with such a line that keep the recipe: a stale reason)."""
    text = path.read_text()
    config = load_config(path)
    explained = set(re.findall(r"#\s*recipe:\s*([\w.]+)\s+differs because\s+\S", text))
    changed = {key for key in RECIPE if value(config, key) != value(RunConfig(), key)}
    return sorted(changed - explained), sorted(explained - changed)


def test_the_defaults_are_the_quickstarts_recipe():
    defaults, quickstart = RunConfig(), load_config(CONFIGS / "quickstart.yaml")
    assert {key: value(defaults, key) for key in RECIPE} == RECIPE
    assert {key: value(quickstart, key) for key in RECIPE} == RECIPE


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_keeps_the_recipe_or_says_why(path):
    unexplained, stale = departures(path)
    assert not unexplained, f"{path.name} changes {unexplained} without a `# recipe: KEY differs because ...` line"
    assert not stale, f"{path.name} explains {stale}, which it does not change"


def test_the_check_finds_an_unexplained_change_and_a_stale_reason(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: c\npairs: {ensemble: equal}\n")
    assert departures(path) == (["pairs.ensemble"], [])
    path.write_text("name: c\n# recipe: pairs.ensemble differs because this test says so\npairs: {ensemble: equal}\n")
    assert departures(path) == ([], [])
    path.write_text("name: c\n# recipe: student.prior differs because it once did\n")
    assert departures(path) == ([], ["student.prior"])


def _ablation():
    import importlib.util

    path = CONFIGS.parent / "benchmarks" / "ablate_w2s.py"
    spec = importlib.util.spec_from_file_location("ablate_w2s", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_ablation_lever_changes_the_run_it_builds_on():
    # the defaults are the quickstart's recipe, so a lever that only restates a default measures nothing:
    # the baseline must start from the recipe before the levers, and each lever must move its own key
    ablation = _ablation()
    settings = ablation.lever_settings()
    configs = {name: load_config(ablation.QUICKSTART, settings[name]) for name in ablation.LEVERS}
    names = list(ablation.LEVERS)
    recipe_keys = [*RECIPE, "teachers"]
    for before, after in itertools.pairwise(names):
        moved = [key for key in recipe_keys if value(configs[before], key) != value(configs[after], key)]
        assert moved, f"lever {after!r} changes nothing on {before!r}"
    assert value(configs["baseline"], "teachers") == ["pyiqa:piqe", "pyiqa:entropy"]
    last = configs[names[-1]]
    assert {key: value(last, key) for key in RECIPE} == RECIPE
