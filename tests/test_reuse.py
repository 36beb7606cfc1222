"""`w2s run --reuse OLD`: a new run's label stage copies what OLD computed the same way and computes
only what is new, and the result is the label stage it would compute alone."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import yaml

from w2s.config import load_config
from w2s.core.errors import ConfigError
from w2s.run.loop import run


def _config(path, name, teachers, families, **pool):
    """The tiny config, renamed, with its own teachers, training families and no held-out set."""
    cfg = yaml.safe_load(path.read_text())
    cfg.update(name=name, teachers=teachers, distortions=families, rounds=1)
    cfg["pool"].update(limit=3, **pool)
    cfg["eval"] = {"source": "none", "lofo": "none"}
    out = path.with_name(f"{name}.yaml")
    out.write_text(yaml.safe_dump(cfg))
    return load_config(out)


@pytest.fixture
def counted(monkeypatch):
    """Calls of every teacher's score, of the backbone's embedding and of the decoder, per name."""
    import students.perception
    import teachers.classic
    import teachers.pyiqa_teacher
    import w2s.run.label

    calls = {"pyiqa:piqe": 0, "classic:sharpness": 0, "embed": 0, "decode": 0}

    def counting(key, fn):
        def wrapper(*args, **kwargs):
            calls[key] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(teachers.pyiqa_teacher.PyiqaTeacher, "score",
                        counting("pyiqa:piqe", teachers.pyiqa_teacher.PyiqaTeacher.score))
    monkeypatch.setattr(teachers.classic.ClassicTeacher, "score",
                        counting("classic:sharpness", teachers.classic.ClassicTeacher.score))
    perception = students.perception.Perception
    monkeypatch.setattr(perception, "embed_with_base", counting("embed", perception.embed_with_base))
    monkeypatch.setattr(w2s.run.label, "read_clip", counting("decode", w2s.run.label.read_clip))
    return calls


def _labels(run_dir):
    items = pd.read_parquet(run_dir / "label" / "items.parquet")
    from safetensors.torch import load_file

    return items, load_file(str(run_dir / "label" / "features.safetensors"))["features"]


def test_a_new_teacher_and_family_cost_only_their_items(tiny_config, counted):
    base = tiny_config()
    old = _config(base, "old", ["pyiqa:piqe"], {"blur": [1.0, 3.0], "darken": [0.6, 0.3]})
    run(old, stop_after="label")
    assert counted == {"pyiqa:piqe": 15, "classic:sharpness": 0, "embed": 15, "decode": 3}  # 3 videos x 5 items

    counted.update(dict.fromkeys(counted, 0))
    new = _config(base, "new", ["pyiqa:piqe", "classic:sharpness"],
                  {"blur": [1.0, 3.0], "darken": [0.6, 0.3], "noise": [0.02, 0.08]})
    run(new, stop_after="label", reuse=old.run_dir)
    # piqe and the backbone see only the 2 noise variants of each video; the new teacher sees all 7 items
    assert counted == {"pyiqa:piqe": 6, "classic:sharpness": 21, "embed": 6, "decode": 3}

    alone = _config(base, "alone", ["pyiqa:piqe", "classic:sharpness"],
                    {"blur": [1.0, 3.0], "darken": [0.6, 0.3], "noise": [0.02, 0.08]})
    run(alone, stop_after="label")
    (items, feats), (items_alone, feats_alone) = _labels(new.run_dir), _labels(alone.run_dir)
    pd.testing.assert_frame_equal(items, items_alone)
    assert torch.equal(feats, feats_alone)


def test_nothing_new_decodes_nothing(tiny_config, counted):
    base = tiny_config()
    old = _config(base, "old", ["pyiqa:piqe"], {"blur": [1.0, 3.0]})
    run(old, stop_after="label")
    counted.update(dict.fromkeys(counted, 0))
    again = _config(base, "again", ["pyiqa:piqe"], {"blur": [1.0, 3.0]})
    run(again, stop_after="label", reuse=old.run_dir)
    assert counted == {"pyiqa:piqe": 0, "classic:sharpness": 0, "embed": 0, "decode": 0}
    pd.testing.assert_frame_equal(_labels(again.run_dir)[0], _labels(old.run_dir)[0])


def test_another_level_is_computed_again(tiny_config, counted):
    base = tiny_config()
    old = _config(base, "old", ["pyiqa:piqe"], {"blur": [1.0, 3.0]})
    run(old, stop_after="label")
    counted.update(dict.fromkeys(counted, 0))
    new = _config(base, "new", ["pyiqa:piqe"], {"blur": [1.0, 5.0]})  # level 2 is another variant now
    run(new, stop_after="label", reuse=old.run_dir)
    assert counted["pyiqa:piqe"] == 3 and counted["embed"] == 3  # one variant per video


def test_runs_that_share_no_item_are_refused(tiny_config):
    base = tiny_config()
    old = _config(base, "old", ["pyiqa:piqe"], {"blur": [1.0]})
    run(old, stop_after="label")
    new = _config(base, "new", ["pyiqa:piqe"], {"blur": [1.0]}, max_side=64)
    with pytest.raises(ConfigError, match=r"--reuse .*old: its pool.max_side is 96, this run's 64"):
        run(new, stop_after="label", reuse=old.run_dir)
    with pytest.raises(ConfigError, match="this run's own folder"):
        run(old, stop_after="label", reuse=old.run_dir)
    with pytest.raises(ConfigError, match="not a run folder"):
        run(new, stop_after="label", reuse=base.parent)
