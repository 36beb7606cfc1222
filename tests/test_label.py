"""The label stage: one decode per video, whatever the number of teachers and distortions;
the same output whatever the number of label workers."""

import pandas as pd
import pytest
import torch

from distortions import DISTORTIONS
from teachers import make_teacher
from w2s.core.clip import Clip
from w2s.media.samplers import UniformSampler
from w2s.run import label
from w2s.run.label import LabelJob, label_pool, label_video, load_labels
from w2s.testing.doubles import MeanBackbone, RecordingTeacher, ScoringBackbone


def distortions(families):
    return {f: DISTORTIONS.resolve(f)(ladder=l) for f, l in families.items()}


def test_each_video_is_decoded_once(sample_pools, tmp_path, monkeypatch):
    calls = []
    real = label.read_clip

    def counting_read_clip(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(label, "read_clip", counting_read_clip)
    videos = sorted(sample_pools["train"].glob("*.mp4"))[:3]
    manifest = pd.DataFrame({"id": [v.stem for v in videos], "path": [str(v) for v in videos], "status": "ok"})
    teachers = [RecordingTeacher("a"), RecordingTeacher("b")]
    families = {"blur": [1.0, 2.0], "darken": [0.5, 0.25], "noise": [0.05, 0.1]}
    job = LabelJob(UniformSampler(2), 64, 0, distortions(families), {t.name: t for t in teachers}, MeanBackbone(), workers=2)
    label_pool(manifest, tmp_path / "label", job)
    assert sorted(calls) == sorted(str(v) for v in videos)  # 3 videos, 3 decodes, 2 teachers x 7 items each
    items, feats = load_labels(tmp_path / "label")
    assert len(items) == 3 * 7 and feats.shape == (21, 3)
    # every teacher saw every item under its own id (variants are not scored as the clean clip)
    assert sorted(teachers[0].seen) == sorted(items.item_id)
    darker = items.set_index("item_id")["score:a"]
    vid = videos[0].stem
    assert darker[f"{vid}#darken@2"] < darker[f"{vid}#darken@1"] < darker[vid]

    # resumable: a video whose shard is missing is the only one decoded again, and the result is the same
    (tmp_path / "label" / "DONE").unlink()
    (tmp_path / "label" / "shards" / f"{videos[1].stem}.parquet").unlink()
    calls.clear()
    label_pool(manifest, tmp_path / "label", job)
    assert calls == [str(videos[1])]
    again, feats_again = load_labels(tmp_path / "label")
    pd.testing.assert_frame_equal(again, items)
    assert torch.equal(feats_again, feats)


def test_label_workers_change_nothing_in_the_output(sample_pools, backbone, tmp_path):
    """Two workers label two items at once; items, scores and features are byte for byte those
    of one worker. Features depend on torch's intra-op thread count (as across machines), and
    each of two workers gets half the threads: pinned to one thread here, both runs use one."""
    videos = sorted(sample_pools["train"].glob("*.mp4"))[:4]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    paths = [*videos[:2], bad, *videos[2:]]
    manifest = pd.DataFrame({"id": [p.stem for p in paths], "path": [str(p) for p in paths], "status": "ok"})
    # kornia, PIL and ffmpeg (h264) variants; a real torch teacher and the real backbone
    families = {"blur": [1.0, 3.0], "noise": [0.02, 0.08], "jpeg": [30, 5], "h264": [28, 51]}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = {}
        for workers in (1, 2):
            counting = RecordingTeacher("mean")
            teachers = {"pyiqa:entropy": make_teacher("pyiqa:entropy"), "mean": counting}
            job = LabelJob(UniformSampler(2), 64, 0, distortions(families), teachers, backbone, workers=workers)
            label_pool(manifest, tmp_path / f"w{workers}", job)
            out[workers] = (*load_labels(tmp_path / f"w{workers}"), pd.read_parquet(tmp_path / f"w{workers}" / "failures.parquet"))
            assert len(counting.threads) == workers  # the items really were labelled on `workers` threads
        assert torch.get_num_threads() == 1  # the workers' thread split is undone
    finally:
        torch.set_num_threads(threads)
    (items1, feats1, fail1), (items2, feats2, fail2) = out[1], out[2]
    assert len(items1) == 4 * 9 and list(fail1.id) == ["broken"]  # one bad video never stops the others
    pd.testing.assert_frame_equal(items1, items2)
    assert torch.equal(feats1, feats2)
    pd.testing.assert_frame_equal(fail1, fail2)
    assert (items1.base == 0.0).all()  # a backbone without embed_with_base


def test_a_shard_that_cannot_be_written_stops_the_stage(sample_pools, tmp_path, monkeypatch):
    videos = sorted(sample_pools["train"].glob("*.mp4"))[:3]
    manifest = pd.DataFrame({"id": [v.stem for v in videos], "path": [str(v) for v in videos], "status": "ok"})

    def full_disk(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(label.io, "write_parquet", full_disk)
    job = LabelJob(UniformSampler(2), 64, 0, distortions({"blur": [1.0]}), {"a": RecordingTeacher("a")}, MeanBackbone(), workers=2)
    with pytest.raises(OSError, match="no space"):
        label_pool(manifest, tmp_path / "label", job)
    assert not (tmp_path / "label" / "DONE").exists()


def test_a_backbone_base_score_is_stored():
    clip = Clip("v", torch.rand(2, 3, 16, 16), 4.0)
    families = {"darken": [0.5, 0.25]}
    job = LabelJob(UniformSampler(2), 0, 0, distortions(families), {"a": RecordingTeacher("a")}, ScoringBackbone())
    rows, feats = label_video("v", clip, job)
    assert feats.dtype == torch.float32 and feats.shape == (3, 3)
    assert rows.base.tolist() == pytest.approx((rows["score:a"] * 10).tolist(), rel=1e-5)
    assert rows.base.is_monotonic_decreasing  # darker, lower
    rows, _ = label_video("v", clip, LabelJob(UniformSampler(2), 0, 0, distortions(families), {}, MeanBackbone()))
    assert rows.base.tolist() == [0.0, 0.0, 0.0]


def test_label_workers_one_for_models_that_are_not_thread_safe(monkeypatch):
    """Automatic: two workers on two threads, one when a teacher or the backbone (also one
    wrapped in a Perception) says it is not thread-safe; an explicit count always wins."""
    from students.perception import Perception
    from w2s.run.label import label_workers

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    safe, unsafe = RecordingTeacher("a"), RecordingTeacher("vlm", thread_safe=False)
    backbone, unsafe_backbone = MeanBackbone(), MeanBackbone(thread_safe=False)
    job = lambda teachers, backbone, workers=0: LabelJob(None, 0, 0, {}, teachers, backbone, workers=workers)
    assert label_workers(job({"a": safe}, backbone)) == 2
    assert label_workers(job({"a": safe, "vlm": unsafe}, backbone)) == 1
    assert label_workers(job({"a": safe}, unsafe_backbone)) == 1
    assert label_workers(job({"a": safe}, Perception(unsafe_backbone, motion=True))) == 1
    assert label_workers(job({"vlm": unsafe}, backbone, workers=3)) == 3
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert label_workers(job({"a": safe}, backbone)) == 1
