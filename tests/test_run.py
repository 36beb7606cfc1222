"""End to end through the real entry point, on a few real clips."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from w2s.cli import main


def test_two_rounds_end_to_end(tiny_config, tmp_path, capsys):
    config = tiny_config("e2e")
    assert main(["run", str(config)]) == 0
    run = tmp_path / "runs" / "e2e"
    for name in ("config.yaml", "manifest.parquet", "failures.parquet", "report.md", "label/items.parquet", "label/features.safetensors"):
        assert (run / name).exists(), name
    for k in (0, 1):
        r = run / f"round_{k:02d}"
        for name in ("scores.parquet", "pairs.parquet", "teachers.json", "student/config.json", "student/model.safetensors",
                     "student/README.md", "eval/metrics.json"):
            assert (r / name).exists(), f"round_{k:02d}/{name}"

    # every student folder carries its model card: where it came from, its figures, its teachers' licences
    card = (run / "round_01" / "student" / "README.md").read_text()
    metrics = json.loads((run / "round_01" / "eval" / "metrics.json").read_text())
    assert "round 1 of the run `e2e`" in card and "`pyiqa:piqe`, `pyiqa:entropy`" in card
    assert f"| student r1 | {metrics['student r1']['id_srcc']:.3f} |" in card
    assert "| student r0 | " in card.split("## What it learned from")[1]  # r0 among round 1's teachers
    assert "PolyForm-Noncommercial" in card and "trainable" not in card.split("## Licences")[1]

    items = pd.read_parquet(run / "label" / "items.parquet")
    assert len(items) == 4 * (1 + 6)  # 4 clips, each clean + 3 families x 2 levels
    assert items.item_id.is_unique
    assert set(items.family) == {"", "blur", "darken", "noise"}

    # round 1's teachers are round 0's plus round 0's student
    t0 = json.loads((run / "round_00" / "teachers.json").read_text())["weights"]
    t1 = json.loads((run / "round_01" / "teachers.json").read_text())["weights"]
    assert list(t0) == ["score:pyiqa:piqe", "score:pyiqa:entropy"]
    assert list(t1) == list(t0) + ["score:student r0"]
    # ... and it scores the training pool out of fold: each item by a head that never saw its content
    oof = pd.read_parquet(run / "round_00" / "oof.parquet")
    s1 = pd.read_parquet(run / "round_01" / "scores.parquet")
    assert list(oof.item_id) == list(s1.item_id)
    assert oof.score.to_numpy() == pytest.approx(s1["score:student r0"].to_numpy())

    # pairs: teacher pairs span clean and distorted items; round 1 adds hard cases and keeps the rest
    p0 = pd.read_parquet(run / "round_00" / "pairs.parquet")
    p1 = pd.read_parquet(run / "round_01" / "pairs.parquet")
    distorted = set(items.item_id[items.family != ""])
    teacher0 = p0[p0.source == "teacher"]
    assert set(teacher0.a).union(teacher0.b) & distorted
    assert set(p0.source) == {"teacher", "distortion"}
    assert "hard_teacher" in set(p1.source)
    assert len(p1[p1.source == "distortion"]) == len(p0[p0.source == "distortion"])
    assert p1[p1.source == "teacher"][["a", "b"]].equals(teacher0[["a", "b"]])  # same draw, relabelled

    metrics = json.loads((run / "round_01" / "eval" / "metrics.json").read_text())
    assert {"pyiqa:piqe", "pyiqa:entropy", "ensemble", "ensemble + students", "student r0", "student r1"} <= set(metrics)
    # the figures are those of the saved per-item scores (recomputed here) ...
    from students.student import Student
    from w2s.core.io import read_tensors
    from w2s.eval.severity import evaluate_scores

    scored = pd.read_parquet(run / "round_01" / "eval" / "scores.parquet")
    for model in ("pyiqa:piqe", "ensemble", "student r0", "student r1"):
        again = evaluate_scores(scored[f"model:{model}"].to_numpy(), scored, ["blur", "darken", "noise"], ["contrast", "h265"])
        for key in ("id_srcc", "ood_srcc", "vmaf_srcc"):
            assert again[key] == pytest.approx(metrics[model][key], nan_ok=True), (model, key)
    # ... the ensemble is the mean of the two teachers' z-scores over the eval items (equal weights) ...
    z = [(scored[c] - scored[c].mean()) / scored[c].std(ddof=0) for c in ("score:pyiqa:piqe", "score:pyiqa:entropy")]
    assert scored["model:ensemble"].to_numpy() == pytest.approx(((z[0] + z[1]) / 2).to_numpy())
    # ... and a student's scores are its saved head on the eval set's cached features
    features = read_tensors(run / "evalset" / "features.safetensors")["features"]
    head = Student.from_pretrained(run / "round_01" / "student")
    assert scored["model:student r1"].to_numpy() == pytest.approx(head.score_features(features).numpy(), abs=1e-5)
    evalset = pd.read_parquet(run / "evalset" / "items.parquet")
    assert evalset.vmaf.notna().sum() == 2 * 2  # 2 clips x 2 h265 levels
    out = capsys.readouterr().out
    assert "round 1" in out and "student r1" in out
    assert main(["list", "teachers", "--run", str(run)]) == 0
    listed = capsys.readouterr().out
    assert "pyiqa:piqe" in listed and "student r0" in listed and "reliability" in listed

    # a finished run reruns as a no-op and leaves its files alone
    before = (run / "round_01" / "pairs.parquet").stat().st_mtime_ns
    assert main(["run", str(config)]) == 0
    assert (run / "round_01" / "pairs.parquet").stat().st_mtime_ns == before


def test_resume_after_a_stop_gives_the_same_pairs(tiny_config, tmp_path):
    # uninterrupted
    assert main(["run", str(tiny_config("full")), "--set", "rounds=2", "--set", "eval.source=none"]) == 0
    # stopped after round 0's pairs, then after round 1's pairs, a shard of the label stage lost, rerun
    cfg = str(tiny_config("stopped"))
    assert main(["run", cfg, "--set", "eval.source=none", "--stop-after", "label"]) == 0
    run = tmp_path / "runs" / "stopped"
    shard = sorted((run / "label" / "shards").glob("*.parquet"))[0]
    shard.unlink()  # as if the run was killed while labelling this video
    (run / "label" / "DONE").unlink()
    assert main(["run", cfg, "--set", "eval.source=none", "--stop-after", "pairs:0"]) == 0
    assert not (run / "round_00" / "student").exists()
    assert main(["run", cfg, "--set", "eval.source=none"]) == 0
    from w2s.core.io import read_tensors

    a, b = (pd.read_parquet(tmp_path / "runs" / r / "label" / "items.parquet") for r in ("full", "stopped"))
    pd.testing.assert_frame_equal(a, b)  # the relabelled video's scores are those of the uninterrupted run
    for k in (0, 1):
        full, resumed = tmp_path / "runs" / "full" / f"round_{k:02d}", run / f"round_{k:02d}"
        pd.testing.assert_frame_equal(pd.read_parquet(full / "pairs.parquet"), pd.read_parquet(resumed / "pairs.parquet"),
                                      obj=f"round {k} pairs")
        a, b = (read_tensors(r / "student" / "model.safetensors") for r in (full, resumed))
        assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a), f"round {k} weights differ"


def test_changed_config_in_the_same_run_folder_is_refused(tiny_config, capsys):
    cfg = str(tiny_config("refuse"))
    assert main(["run", cfg, "--set", "eval.source=none", "--stop-after", "label"]) == 0
    assert main(["run", cfg, "--set", "eval.source=none", "--set", "seed=1"]) == 2
    assert "different config (seed changed)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "missing.yaml"], "config file not found: missing.yaml"),
        (["run", "{cfg}", "--set", "pairs.teacher_pair=3"], "unknown key 'pairs.teacher_pair'"),
        (["run", "{cfg}", "--set", "teachers=[pyiqa:piqee]"], "did you mean 'piqe'"),
        (["run", "{cfg}", "--set", "distortions={blurr: null}"], "did you mean 'blur'"),
        (["run", "{cfg}", "--set", "pool.source=/no/such/pool"], "pool source not found: /no/such/pool"),
        (["score", "--model", "pyiqa:nope", "x.mp4", "--out", "x.csv"], "unknown pyiqa no-reference metric 'nope'"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message, tiny_config, capsys):
    cfg = str(tiny_config("errors"))
    assert main([a.replace("{cfg}", cfg) for a in args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_bad_video_is_recorded_and_the_run_goes_on(tiny_config, sample_pools, tmp_path):
    import shutil

    pool = tmp_path / "pool"
    pool.mkdir()
    for clip in sorted(sample_pools["train"].glob("*.mp4"))[:2]:
        shutil.copy(clip, pool / clip.name)
    (pool / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    (pool / "notes.txt").write_text("not media: not scanned")
    cfg = str(tiny_config("bad"))
    assert main(["run", cfg, "--set", f"pool.source={pool}", "--set", "rounds=1", "--set", "eval.source=none"]) == 1  # a file failed
    run = tmp_path / "runs" / "bad"
    failures = pd.read_parquet(run / "failures.parquet")
    assert list(failures.id) == ["broken"]
    assert "broken.mp4" in failures.error.iloc[0] or "broken.mp4" in failures.path.iloc[0]
    items = pd.read_parquet(run / "label" / "items.parquet")
    assert items.video_id.nunique() == 2 and (run / "round_00" / "student" / "README.md").exists()


def test_table_and_classic_teachers_with_reliability_weights(tiny_config, sample_pools, tmp_path):
    """Scores computed elsewhere (a table, lower is better) beside weight-free teachers, reliability-weighted."""
    clips = sorted(sample_pools["train"].glob("*.mp4"))
    table = tmp_path / "dover.csv"
    pd.DataFrame({"file": [c.name for c in clips[:3]], "dover": [0.2, 0.5, 0.9]}).to_csv(table, index=False)
    cfg = str(tiny_config("mixed"))
    teachers = f"[pyiqa:piqe, classic:sharpness, {{name: 'table:{table}', column: dover, lower_better: true}}]"
    assert main(["run", cfg, "--set", f"teachers={teachers}", "--set", "pairs.ensemble=reliability"]) == 0
    run = tmp_path / "runs" / "mixed"
    scores = pd.read_parquet(run / "round_01" / "scores.parquet")
    col = f"score:table:{table}"
    clean = scores[scores.family == ""].set_index("video_id")[col]
    assert clean.notna().sum() == 3 and clean.isna().sum() == 1  # the 4th pool clip is not in the table
    assert scores[scores.family != ""][col].isna().all()  # a table scores originals only
    assert clean[clips[0].stem] == pytest.approx(-0.2)  # lower is better: negated
    weights = json.loads((run / "round_01" / "teachers.json").read_text())
    assert set(weights["weights"]) == {"score:pyiqa:piqe", "score:classic:sharpness", col, "score:student r0"}
    # reliability ensemble: weights follow pairwise accuracy on the known-order distortion pairs
    rel, w = weights["reliability"], weights["weights"]
    assert (rel["score:pyiqa:piqe"] > rel["score:classic:sharpness"]) == (w["score:pyiqa:piqe"] > w["score:classic:sharpness"])


def test_vlm_teacher_two_rounds_end_to_end(tiny_config, sample_pools, tmp_path):
    """A tiny random Qwen2-VL (built offline, loaded by path like a real checkpoint), a score table and
    piqe, reliability-weighted, teach two rounds."""
    from w2s.testing.tiny_vlm import build_tiny_vlm

    model = build_tiny_vlm("qwen2_vl", tmp_path / "tiny-qwen2-vl")
    clips = sorted(sample_pools["train"].glob("*.mp4"))
    table = tmp_path / "fastvqa.csv"
    pd.DataFrame({"file": [c.name for c in clips[:4]], "score": [0.4, 0.1, 0.8, 0.6]}).to_csv(table, index=False)
    cfg = str(tiny_config("vlm"))
    teachers = f"[pyiqa:piqe, 'vlm:{model}', 'table:{table}']"
    assert main(["run", cfg, "--set", f"teachers={teachers}", "--set", "pairs.ensemble=reliability", "--set", "eval.source=none"]) == 0
    run = tmp_path / "runs" / "vlm"
    scores = pd.read_parquet(run / "round_01" / "scores.parquet")
    vlm = scores[f"score:vlm:{model}"]
    assert vlm.notna().all() and vlm.between(1, 5).all()
    assert scores[scores.family == ""][f"score:table:{table}"].notna().all()
    info = json.loads((run / "round_01" / "teachers.json").read_text())
    assert set(info["weights"]) == {"score:pyiqa:piqe", f"score:vlm:{model}", f"score:table:{table}", "score:student r0"}
    # the table scores no variant: its reliability is unknown and it gets the median weight of the others
    w = info["weights"]
    assert math.isnan(info["reliability"][f"score:table:{table}"])
    others = [w["score:pyiqa:piqe"], w[f"score:vlm:{model}"], w["score:student r0"]]
    assert w[f"score:table:{table}"] == pytest.approx(sorted(others)[1])


def test_vlm_student_two_rounds_end_to_end(tiny_config, tmp_path):
    """A tiny random Qwen2-VL student (built offline, loaded by path like a real checkpoint):
    its level-word score is the base, the calibration branch learns the residual."""
    from students.student import Student
    from w2s.testing.tiny_vlm import build_tiny_vlm

    model = build_tiny_vlm("qwen2_vl", tmp_path / "tiny-qwen2-vl")
    cfg = str(tiny_config("vlm_student"))
    overrides = [f"student.backbone=vlm:{model}", "student.hidden=8", "student.motion=true"]
    assert main(["run", cfg, *[a for o in overrides for a in ("--set", o)]]) == 0
    run = tmp_path / "runs" / "vlm_student"
    items = pd.read_parquet(run / "label" / "items.parquet")
    assert items.base.between(1, 5).all() and items.base.nunique() > 1
    backbone = json.loads((run / "label" / "backbone.json").read_text())
    assert backbone["name"] == f"vlm:{model}+motion" and backbone["parameters"] > 100_000

    student = Student.from_pretrained(run / "round_01" / "student")
    share = student.meta["trainable_share"]
    head_params = sum(p.numel() for p in student.head.parameters())
    assert share == pytest.approx(head_params / backbone["parameters"])
    assert share < 0.02  # the calibration branch is under 2 % of the frozen VLM

    # a saved student rebuilds its backbone from the folder and scores a clip as base + residual
    from w2s.media.decode import read_clip
    from w2s.media.samplers import UniformSampler

    clip = read_clip(pd.read_parquet(run / "manifest.parquet").path.iloc[0], UniformSampler(2), max_side=96)
    features, base = student.backbone.embed_with_base(clip)
    residual = float(student.score_features(features[None])[0])
    assert student.score(clip) == pytest.approx(base + residual, abs=1e-5)
    metrics = json.loads((run / "round_01" / "eval" / "metrics.json").read_text())
    assert {"student r0", "student r1"} <= set(metrics)


def test_missing_backbone_weights_fail_before_the_pool_is_scanned(tiny_config, tmp_path, capsys):
    """Models are built before the scan: on a pool of thousands, a missing file must not wait for it."""
    cfg = str(tiny_config("no_weights"))
    assert main(["run", cfg, "--set", "student.backbone=timm:resnet18"]) == 2
    err = capsys.readouterr().err
    assert "resnet18" in err and "hf download timm/" in err
    run = tmp_path / "runs" / "no_weights"
    assert (run / "config.yaml").exists() and not (run / "manifest.parquet").exists()


def test_full_reference_teachers_teacher_only_variants_and_lofo(tiny_config, tmp_path):
    """fr: teachers label pairs of variants; teacher-only variants get no distortion pairs; reliability
    on two axes; hard cases across contents; leave-one-family-out in the report."""
    cfg = str(tiny_config("levers"))
    overrides = [
        "teachers=[pyiqa:piqe, fr:psnr, fr:gmsd]", "teacher_only={contrast: [0.5, 0.2]}",
        "eval.ood={h265: [30, 51]}", "pairs.ensemble=reliability", "pairs.fr_pairs=300",
        "hard_cases.across_contents=true", "eval.lofo=first",
        "train.shares={teacher: 0.5, fr: 0.3, distortion: 0.2, hard: 0.0}", "student.prior=teachers",
    ]
    assert main(["run", cfg, *[a for o in overrides for a in ("--set", o)]]) == 0
    run = tmp_path / "runs" / "levers"
    items = pd.read_parquet(run / "label" / "items.parquet")
    assert set(items.family) == {"", "blur", "darken", "noise", "contrast"}
    psnr = items["score:fr:psnr"]
    assert psnr[items.family == ""].isna().all() and psnr[items.family != ""].notna().all()

    p1 = pd.read_parquet(run / "round_01" / "pairs.parquet")
    family = dict(zip(items.item_id, items.family))
    video = dict(zip(items.item_id, items.video_id))
    # teacher-only variants: labelled by the teachers, never in a distortion pair
    dist = p1[p1.source == "distortion"]
    assert not {family[i] for i in [*dist.a, *dist.b]} & {"contrast"}
    assert "contrast" in {family[i] for i in [*p1[p1.source == "teacher"].a]}
    # full-reference pairs: two variants, labelled by psnr and gmsd (here they agree with psnr's order)
    fr = p1[p1.source == "fr"]
    assert len(fr) == 300 and all(family[a] and family[b] for a, b in zip(fr.a, fr.b))
    score = dict(zip(items.item_id, psnr))
    agree = np.mean([(p > 0.5) == (score[a] > score[b]) for a, b, p in zip(fr.a, fr.b, fr.p)])
    assert agree > 0.8
    # hard cases across contents
    hard = p1[p1.source == "hard_teacher"]
    assert len(hard) and all(video[a] != video[b] for a, b in zip(hard.a, hard.b))

    info = json.loads((run / "round_01" / "teachers.json").read_text())
    assert info["full_reference"] == ["score:fr:gmsd", "score:fr:psnr"]
    assert set(info["reliability_across"]) == set(info["reliability"]) == {
        "score:pyiqa:piqe", "score:fr:psnr", "score:fr:gmsd", "score:student r0"}
    # psnr and gmsd measured against each other across contents: both well above chance
    assert info["reliability_across"]["score:fr:psnr"] > 0.7

    lofo = pd.read_parquet(run / "lofo.parquet")
    assert not (run / "lofo_scratch").exists()  # the held-out rounds' scratch folder is removed
    assert set(lofo.family) == {"blur", "darken", "noise"}
    assert set(lofo.model) == {"student r0", "ensemble", "pyiqa:piqe", "fr:psnr", "fr:gmsd"}
    assert set(lofo[lofo.model.str.startswith("fr:")].kind) == {"reference"}
    report = (run / "report.md").read_text()
    assert "Leave-one-family-out" in report and "| fr |" in report

    # the prior: the no-reference teacher (piqe; never a full-reference one) standardised over the
    # training pool, saved with every student; `w2s score` runs piqe again on a file and gets the
    # same score as the run's evaluation, which read piqe's cached score
    prior = json.loads((run / "round_01" / "student" / "config.json").read_text())["prior"]
    assert prior["teachers"] == ["pyiqa:piqe"] and prior["std"][0] > 0
    pool_piqe = items["score:pyiqa:piqe"]
    assert prior["mean"][0] == pytest.approx(pool_piqe.mean()) and prior["std"][0] == pytest.approx(pool_piqe.std(ddof=0))
    evaluated = pd.read_parquet(run / "round_01" / "eval" / "scores.parquet")
    clean = evaluated[evaluated.family == ""].iloc[0]
    path = pd.read_parquet(run / "evalset_manifest.parquet").set_index("id").path[clean.video_id]
    assert main(["score", "--model", str(run / "round_01" / "student"), path, "--out", str(tmp_path / "s.csv")]) == 0
    assert pd.read_csv(tmp_path / "s.csv").score[0] == pytest.approx(clean["model:student r1"], abs=1e-4)
    # the command computes the same for a finished run, in a file of its own
    assert main(["lofo", str(run)]) == 0
    again = pd.read_parquet(run / "lofo_first.parquet")
    pd.testing.assert_frame_equal(again, lofo)
