"""A slow teacher's `variant_share`: it scores every clean clip, and the variants of a seeded share of
the pool's videos only; elsewhere it abstains (NaN), and reliability and the ensemble cope."""

import math

import numpy as np
import pandas as pd
import pytest

from distortions import DISTORTIONS
from w2s.config import load_config
from w2s.core.errors import ConfigError
from w2s.media.samplers import UniformSampler
from w2s.run.label import (
    LabelJob,
    label_pool,
    load_labels,
    score_column,
    share_videos,
    variant_share,
)
from w2s.run.loop import run
from w2s.run.pairs import distortion_pairs, teacher_pairs
from w2s.run.reliability import teacher_reliability
from w2s.testing.doubles import MeanBackbone, RecordingTeacher


@pytest.mark.parametrize("value", [0, -0.5, 1.5, math.nan, True, "half", None])
def test_variant_share_must_be_a_fraction(value):
    with pytest.raises(ConfigError, match=r"vlm:/models/big has variant_share .*\(0, 1\]") as e:
        variant_share("vlm:/models/big", {"variant_share": value})
    assert repr(value) in str(e.value)


def test_variant_share_is_a_label_option_not_a_constructor_one():
    assert variant_share("pyiqa:piqe", {}) == 1.0
    assert variant_share("pyiqa:piqe", {"variant_share": 1}) == 1.0
    assert variant_share("pyiqa:piqe", {"variant_share": 0.25}) == 0.25


def test_make_teacher_drops_the_label_option_and_hands_the_device_only_to_a_teacher_that_takes_one(monkeypatch):
    import teachers

    seen = {}

    class Fake:
        takes_device = True

        def __init__(self, arg, **options):
            seen.update(options, arg=arg)

    monkeypatch.setattr(teachers.TEACHER_FAMILIES, "resolve", lambda family: Fake)
    teachers.make_teacher("pyiqa:x", device="cuda:1", variant_share=0.5, column="mos")
    assert seen == {"arg": "x", "device": "cuda:1", "column": "mos"}
    Fake.takes_device, seen = False, seen.clear() or seen
    teachers.make_teacher("pyiqa:x", device="cuda:1", variant_share=0.5)
    assert seen == {"arg": "x"}


def test_share_videos_are_an_exact_seeded_share():
    ids = [f"video{i:03d}" for i in range(40)]
    quarter = share_videos(ids, 0, "vlm:a", 0.25)
    assert len(quarter) == 10 and quarter <= set(ids)
    assert share_videos(list(reversed(ids)), 0, "vlm:a", 0.25) == quarter  # order does not matter
    assert quarter < share_videos(ids, 0, "vlm:a", 0.5)  # a larger share keeps the smaller one's videos
    assert share_videos(ids, 0, "vlm:b", 0.25) != quarter  # each teacher its own videos ...
    assert share_videos(ids, 1, "vlm:a", 0.25) != quarter  # ... and each run seed
    assert len(share_videos(ids[:3], 0, "vlm:a", 0.01)) == 1  # at least one, so reliability is measurable
    assert share_videos(ids, 0, "vlm:a", 1.0) == set(ids)


def test_a_teacher_with_a_share_abstains_outside_its_videos(sample_pools, tmp_path):
    videos = sorted(sample_pools["train"].glob("*.mp4"))[:4]
    manifest = pd.DataFrame({"id": [v.stem for v in videos], "path": [str(v) for v in videos], "status": "ok"})
    families = {"darken": [0.6, 0.3], "blur": [1.0, 3.0]}
    slow, fast = RecordingTeacher("slow"), RecordingTeacher("fast")
    job = LabelJob(
        UniformSampler(2), 64, 0, {f: DISTORTIONS.resolve(f)(ladder=l) for f, l in families.items()},
        {"slow": slow, "fast": fast}, MeanBackbone(), variant_shares={"slow": 0.5},
    )
    label_pool(manifest, tmp_path / "label", job)
    items, _ = load_labels(tmp_path / "label")
    probed = share_videos(manifest.id, 0, "slow", 0.5)
    assert len(probed) == 2
    scored = items[score_column("slow")].notna()
    # every clean clip, and the variants of the probed videos; it was never asked about the others
    assert set(items.item_id[scored]) == set(items.item_id[(items.family == "") | items.video_id.isin(probed)])
    assert sorted(slow.seen) == sorted(items.item_id[scored])
    assert items[score_column("fast")].notna().all() and len(fast.seen) == len(items) == 4 * 5

    # reliability: measured on the probed videos' distortion pairs only; the ensemble still labels every pair
    dist = distortion_pairs(items, 0.85, 0.98)
    rel = teacher_reliability(items, [score_column("slow")], dist)
    # the same scores as `fast`: its accuracy on the probed videos' pairs (a pair it abstains on does not count)
    on_probed = dist[dist.a.str.split("#").str[0].isin(probed)]
    assert 0 < len(on_probed) < len(dist)
    assert rel[score_column("slow")] == teacher_reliability(items, [score_column("fast")], on_probed)[score_column("fast")]
    tp = teacher_pairs(items, [score_column("slow"), score_column("fast")], np.ones(2), 500, seed=0)
    assert tp.p.notna().all() and len(tp) == 20 * 19 // 2


def test_variant_share_from_the_config(tiny_config, tmp_path):
    teachers = 'teachers=[{name: "pyiqa:entropy", variant_share: 0.5}, "pyiqa:piqe"]'
    config = load_config(tiny_config("variant_share"), [teachers])
    run(config, stop_after="label")
    items, _ = load_labels(config.run_dir / "label")
    entropy = items[score_column("pyiqa:entropy")]
    assert entropy[items.family == ""].notna().all()
    assert set(items.video_id[items.family.ne("") & entropy.notna()]) == share_videos(items.video_id, 0, "pyiqa:entropy", 0.5)
    assert items[score_column("pyiqa:piqe")].notna().all()

    bad = load_config(tiny_config("bad_probe"), ['teachers=[{name: "pyiqa:entropy", variant_share: 2}]'])
    with pytest.raises(ConfigError, match="pyiqa:entropy has variant_share 2"):
        run(bad, stop_after="label")
