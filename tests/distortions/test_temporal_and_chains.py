"""The temporal families, H.264's QP top level and chains of families."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from distortions import DISTORTIONS
from w2s.core.clip import Clip
from w2s.core.errors import W2SError


def make(name, ladder=None):
    return DISTORTIONS.resolve(name)(ladder)


def moving_clip(t=12, h=32, w=48) -> Clip:
    """Distinct smooth frames, so any repeat or shift is visible."""
    g = torch.Generator().manual_seed(3)
    x = F.avg_pool2d(torch.rand(t, 3, h, w, generator=g), 3, 1, 1, count_include_pad=False)
    return Clip("moving", x.contiguous(), fps=25.0)


def source_index(out: torch.Tensor, src: torch.Tensor) -> list[int]:
    """For every output frame, the input frame it is an exact copy of."""
    idx = []
    for o in out:
        hits = [j for j, s in enumerate(src) if torch.equal(o, s)]
        assert len(hits) == 1
        idx.append(hits[0])
    return idx


# -- stutter ---------------------------------------------------------------


def test_stutter_keeps_count_and_frame0_and_repeats_previous():
    clip = moving_clip()
    d = make("stutter")
    dropped_sets = []
    for level in range(1, d.levels + 1):
        out = d.apply(clip, d.params(level, seed=7)).frames
        assert out.shape == clip.frames.shape
        idx = source_index(out, clip.frames)
        assert idx[0] == 0
        # each frame is either itself or the previous output frame (held)
        for i in range(1, len(idx)):
            assert idx[i] == i or idx[i] == idx[i - 1]
        dropped_sets.append({i for i in range(len(idx)) if idx[i] != i})
    # ceil(p * 11) drops for p = 0.1, 0.25, 0.5, nested from level to level
    assert [len(s) for s in dropped_sets] == [2, 3, 6]
    assert dropped_sets[0] <= dropped_sets[1] <= dropped_sets[2]


def test_stutter_seed_moves_the_drops():
    clip = moving_clip()
    d = make("stutter")
    outs = {tuple(source_index(d.apply(clip, d.params(3, seed=s)).frames, clip.frames)) for s in range(6)}
    assert len(outs) > 1


# -- framerate -------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 4, 6])
def test_framerate_repeats_each_kept_frame_k_times(k):
    clip = moving_clip(t=12)
    d = make("framerate", [k])
    out = d.apply(clip, d.params(1, seed=0)).frames
    assert source_index(out, clip.frames) == [j for j in range(0, 12, k) for _ in range(k)]


def test_framerate_short_last_group():
    clip = moving_clip(t=7)
    d = make("framerate", [3])
    out = d.apply(clip, d.params(1, seed=0)).frames
    assert source_index(out, clip.frames) == [0, 0, 0, 3, 3, 3, 6]


# -- jitter and flicker ----------------------------------------------------


def test_jitter_moves_every_frame_differently():
    still = moving_clip(t=1).frames.repeat(4, 1, 1, 1)
    d = make("jitter")
    out = d.apply(Clip("s", still, fps=25.0), d.params(3, seed=1)).frames
    for i in range(4):
        for j in range(i + 1, 4):
            assert not torch.equal(out[i], out[j])


def test_flicker_gain_changes_per_frame():
    still = torch.full((6, 3, 8, 8), 0.5)
    d = make("flicker")
    out = d.apply(Clip("s", still, fps=25.0), d.params(2, seed=1)).frames
    gains = out.mean(dim=(1, 2, 3)) / 0.5
    assert all((a - 1) * (b - 1) < 0 for a, b in zip(gains, gains[1:]))  # alternating
    assert ((gains - 1).abs() >= 0.05 - 1e-6).all() and ((gains - 1).abs() <= 0.1 + 1e-6).all()


# -- H.264 top level -------------------------------------------------------


def test_h264_above_51_is_constant_qp():
    d = make("h264")
    assert d.ladder[-1] == 63
    top = d.params(d.levels, seed=0)
    assert top["rate_control"] == "qp" and top["crf"] == 63
    assert d.params(1, seed=0)["rate_control"] == "crf"
    with pytest.raises(W2SError, match="h264: params rate_control"):
        d.apply(moving_clip(t=1), dict(top, rate_control="crf"))


# -- chains ----------------------------------------------------------------


def test_chain_from_step_ladders():
    from distortions.compound import Chain

    c = Chain(steps=[("resize", [2, 3]), ("h264", [24, 36])], name="my_chain")
    assert c.name == "my_chain" and c.steps == ["resize", "h264"]
    assert c.ladder == [[2.0, 24], [3.0, 36]] and c.levels == 2
    with pytest.raises(W2SError, match="one length"):
        Chain(steps=[("resize", [2, 3]), ("h264", [24])])
    with pytest.raises(W2SError, match="neither a family name"):
        Chain(steps=[3])
    # one step may stay put while another rises
    assert Chain([[0.5, 2], [0.5, 3]], steps=["blur", "resize"]).levels == 2


def test_chain_equals_steps_applied_in_order():
    clip = moving_clip(t=3)
    d = make("resize_h264")
    p = d.params(2, seed=4)
    assert json.loads(json.dumps(p)) == p
    assert [s["family"] for s in p["steps"]] == ["resize", "h264"]
    assert [s["params"]["strength"] for s in p["steps"]] == p["strength"]
    x = clip
    for s in p["steps"]:
        x = make(s["family"], [s["params"]["strength"]]).apply(x, s["params"])
    assert torch.equal(d.apply(clip, p).frames, x.frames)


def test_chain_step_draws_do_not_depend_on_level():
    from distortions.compound import Chain

    c = Chain(steps=[("noise", [0.01, 0.02]), ("motion_blur", [5, 9])])
    a, b = c.params(1, seed=3), c.params(2, seed=3)
    assert a["steps"][0]["params"]["noise_seed"] == b["steps"][0]["params"]["noise_seed"]
    assert a["steps"][1]["params"]["angle"] == b["steps"][1]["params"]["angle"]


def test_chain_params_must_match_steps():
    d = make("resize_h264")
    p = d.params(1, seed=0)
    p["steps"] = p["steps"][:1]
    with pytest.raises(W2SError, match="resize_h264: params steps"):
        d.apply(moving_clip(t=1), p)
