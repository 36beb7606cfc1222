"""Several backbones side by side (students.multi): features, block balance, save and load."""

import json

import pytest
import torch

from students import check_backbone, make_backbone
from students.calibration import CalibrationHead
from students.multi import block_scales
from students.student import Student, build_perception
from w2s.core.clip import Clip
from w2s.core.errors import W2SError

PAIR = ["efficientnet_lite0", "efficientnet_lite2"]


def test_block_scales_give_every_block_the_same_total_variance():
    dims = [4128, 4272, 15000]
    scales = block_scales(dims)
    per_block = [d * s**2 for d, s in zip(dims, scales)]
    assert per_block == pytest.approx([sum(dims) / 3] * 3)
    assert sum(per_block) == pytest.approx(sum(dims))  # the whole input keeps the scale of one backbone
    assert block_scales([4128]) == [1.0]


def test_head_scales_standardised_blocks_and_saves_them_only_when_asked():
    head = CalibrationHead(5, hidden=0, blocks=[[2, 2.0], [3, 0.5]])
    head.set_normalization(torch.tensor([[0.0] * 5, [2.0] * 5]))
    x = head.standardize(torch.tensor([[2.0] * 5]))
    z = (2.0 - 1.0) / torch.tensor([0.0, 2.0]).std()
    assert torch.allclose(x, torch.tensor([[2 * z] * 2 + [0.5 * z] * 3]))
    assert head.config()["blocks"] == [[2, 2.0], [3, 0.5]]
    plain = CalibrationHead(5, hidden=0)
    assert "blocks" not in plain.config() and "feat_scale" not in plain.state_dict()
    with pytest.raises(ValueError, match="add up"):
        CalibrationHead(5, blocks=[[2, 1.0]])


def test_list_of_backbones_concatenates_and_round_trips(tmp_path):
    extras = {"motion": True, "temporal": True, "nss": False}
    perception = build_perception(PAIR, {}, extras)
    lite0, lite2 = make_backbone(PAIR[0]), make_backbone(PAIR[1])
    assert perception.dim == 2 * (lite0.dim + lite2.dim) + 12
    assert [n for n, _ in perception.blocks] == [lite0.dim, lite2.dim, 12, lite0.dim, lite2.dim]
    clip = Clip("x", torch.rand(3, 3, 48, 64), fps=4.0)
    features, base = perception.embed_with_base(clip)
    assert base == 0.0
    assert torch.allclose(features[: lite0.dim], lite0.embed(clip), atol=1e-5)
    assert torch.allclose(features[lite0.dim : lite0.dim + lite2.dim], lite2.embed(clip), atol=1e-5)

    head = CalibrationHead(perception.dim, hidden=8, blocks=perception.blocks)
    head.set_normalization(torch.randn(6, perception.dim))
    student = Student(PAIR, head, backbone=perception, extras=extras)
    student.save_pretrained(tmp_path / "s")
    saved = json.loads((tmp_path / "s" / "config.json").read_text())
    assert saved["backbone"] == PAIR and saved["head"]["blocks"] == perception.blocks
    again = Student.from_pretrained(tmp_path / "s")
    assert again.score(clip) == pytest.approx(student.score(clip), abs=1e-5)


@pytest.mark.parametrize("spec, message", [
    (["vlm:some/model"], "stands alone"),
    ([], "at least one"),
    (["efficientnet_lite0", "efficientnet_lite0"], "twice"),
    (["efficientnet_lite0", "efficientnet_lite9"], "unknown backbone"),
])
def test_bad_lists_fail_at_once(spec, message):
    with pytest.raises(W2SError, match=message):
        check_backbone(spec)


def test_list_options_are_per_backbone():
    check_backbone(PAIR, efficientnet_lite2={"frame_batch": 8})
    with pytest.raises(W2SError, match="NAME"):
        check_backbone(PAIR, frame_batch=8)
