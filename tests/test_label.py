"""The label stage: one decode per video, whatever the number of teachers and distortions."""

import pandas as pd

import w2s.label as label
from distortions import DISTORTIONS
from w2s.label import LabelJob, label_pool, load_labels
from w2s.media.samplers import UniformSampler


class CountingTeacher:
    def __init__(self, name):
        self.name = name
        self.seen = []

    def score(self, clip):
        self.seen.append(clip.id)
        return float(clip.frames.mean())


class MeanBackbone:
    name, dim = "mean", 3

    def embed(self, clip):
        return clip.frames.mean(dim=(0, 2, 3))


def test_each_video_is_decoded_once(sample_pools, tmp_path, monkeypatch):
    calls = []
    real = label.read_clip

    def counting_read_clip(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(label, "read_clip", counting_read_clip)
    videos = sorted(sample_pools["train"].glob("*.mp4"))[:3]
    manifest = pd.DataFrame({"id": [v.stem for v in videos], "path": [str(v) for v in videos], "status": "ok"})
    teachers = [CountingTeacher("a"), CountingTeacher("b")]
    families = {"blur": [1.0, 2.0], "darken": [0.5, 0.25], "noise": [0.05, 0.1]}
    job = LabelJob(
        UniformSampler(2), 64, 0, {f: DISTORTIONS.resolve(f)(ladder=l) for f, l in families.items()},
        {t.name: t for t in teachers}, MeanBackbone(),
    )
    label_pool(manifest, tmp_path / "label", job)
    assert sorted(calls) == sorted(str(v) for v in videos)  # 3 videos, 3 decodes, 2 teachers x 7 items each
    items, feats = load_labels(tmp_path / "label")
    assert len(items) == 3 * 7 and feats.shape == (21, 3)
    # every teacher saw every item under its own id (variants are not scored as the clean clip)
    assert sorted(teachers[0].seen) == sorted(items.item_id)
    darker = items.set_index("item_id")["score:a"]
    vid = videos[0].stem
    assert darker[f"{vid}#darken@2"] < darker[f"{vid}#darken@1"] < darker[vid]
