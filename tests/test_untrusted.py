"""Files a user hands over are data, never code (w2s.core.untrusted): every pickle "bomb" below would
create a marker file when unpickled; each must be refused with a clear error, and the marker
must never appear."""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import pickle

import pytest
import torch

from w2s.core.errors import W2SError
from w2s.core.untrusted import FORCE, UnsafeCheckpointError, no_unpickling


class Bomb:
    """Unpickling this opens (creates) ``marker``: stands for any code a pickle may run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PAYLOAD_RAN"
    yield path
    assert not path.exists(), "a pickle payload was executed"


def test_the_bomb_is_live(tmp_path):
    """The payload really runs when unpickled without protection, so its absence below means something."""
    path = tmp_path / "ran"
    pickle.loads(pickle.dumps(Bomb(path))).close()
    assert path.exists()


def test_no_unpickling_overrides_an_explicit_weights_only_false(tmp_path, marker, monkeypatch):
    monkeypatch.delenv(FORCE, raising=False)
    torch.save({"w": Bomb(marker)}, tmp_path / "bomb.pth")
    torch.save({"w": torch.arange(3.0)}, tmp_path / "weights.pth")
    with no_unpickling():
        with no_unpickling():  # re-entrant: the inner block leaves the switch on
            pass
        assert os.environ[FORCE] == "1"
        with pytest.raises(pickle.UnpicklingError, match="open"):
            torch.load(tmp_path / "bomb.pth", weights_only=False)  # what pyiqa asks for
        # plain weights still load: the guard costs nothing to real checkpoints
        assert torch.equal(torch.load(tmp_path / "weights.pth", weights_only=False)["w"], torch.arange(3.0))
    assert FORCE not in os.environ  # restored as it was


def test_a_timm_weights_file_that_is_a_bomb_is_refused(tmp_path, marker):
    from students import make_backbone

    torch.save({"conv1.weight": Bomb(marker)}, tmp_path / "resnet18.pth")
    with pytest.raises(UnsafeCheckpointError) as err:
        make_backbone("timm:resnet18", weights=str(tmp_path / "resnet18.pth"))
    message = str(err.value)
    assert str(tmp_path / "resnet18.pth") in message and "never unpickles" in message and "keep only its tensors" in message


def test_a_pyiqa_weights_file_that_is_a_bomb_is_refused(tmp_path, marker, monkeypatch):
    """pyiqa loads its files with weights_only=False; the one it finds in $TORCH_HOME is a bomb."""
    from teachers import make_teacher

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "torch" / "hub" / "pyiqa").mkdir(parents=True)
    torch.save(Bomb(marker), tmp_path / "torch" / "hub" / "pyiqa" / "brisque_svm_weights.pth")
    with pytest.raises(UnsafeCheckpointError, match=r"pyiqa:brisque .*never unpickles"):
        make_teacher("pyiqa:brisque")


def test_a_real_pyiqa_weights_file_still_loads_weights_only(tmp_path, monkeypatch):
    """The same path with a file of plain tensors (the shape of pyiqa's real brisque file) builds."""
    from teachers import make_teacher

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "torch" / "hub" / "pyiqa").mkdir(parents=True)
    torch.save((torch.ones(3, 1), torch.rand(3, 36)), tmp_path / "torch" / "hub" / "pyiqa" / "brisque_svm_weights.pth")
    teacher = make_teacher("pyiqa:brisque")
    assert torch.equal(teacher.model.net.sv_coef, torch.ones(3, 1))


def test_a_student_folder_whose_weights_are_a_pickle_is_refused(tmp_path, marker, backbone):
    import w2s
    from students.calibration import CalibrationHead
    from students.student import Student

    folder = tmp_path / "student"
    meta = {"sampler": {"name": "uniform", "num_frames": 2}, "max_side": 96}
    Student("efficientnet_lite0", CalibrationHead(backbone.dim, hidden=0, dropout=0.0), backbone=backbone,
            meta=meta).save_pretrained(folder)
    assert w2s.load(str(folder)).meta["kind"] == "student"  # the folder as saved loads
    torch.save({"head.weight": Bomb(marker)}, folder / "model.safetensors")  # a pickle under a safe name
    with pytest.raises(W2SError, match=rf"{folder / 'model.safetensors'} is not a safetensors file"):
        w2s.load(str(folder))


@pytest.mark.parametrize("name", ["scores.pkl", "scores.parquet", "scores.csv"])
def test_a_pickled_score_table_is_refused(tmp_path, marker, name):
    import pandas as pd

    from teachers import make_teacher

    table = pd.DataFrame({"id": ["a"], "score": [1.0], "bomb": [Bomb(marker)]})
    with open(tmp_path / name, "wb") as f:
        pickle.dump(table, f)
    with pytest.raises(W2SError, match=rf"table {tmp_path / name}"):
        make_teacher(f"table:{tmp_path / name}")


def test_trust_remote_code_is_off_unless_asked_for(tmp_path, monkeypatch):
    """A model folder that names its own Python (auto_map) loads with the library's code by default;
    its code runs only when the option is set (the option reaches transformers)."""
    import transformers.dynamic_module_utils as dynamic

    from teachers import make_teacher
    from w2s.testing.tiny_vlm import build_tiny_vlm

    folder = build_tiny_vlm("qwen2_vl", tmp_path / "tiny")
    ran = tmp_path / "REMOTE_CODE_RAN"
    (folder / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(ran)!r}).write_text('ran')\n"
        "from transformers import Qwen2VLForConditionalGeneration\n"
        "class EvilModel(Qwen2VLForConditionalGeneration):\n    pass\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForImageTextToText": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))  # not the user's cache

    teacher = make_teacher(f"vlm:{folder}")
    assert not ran.exists()
    assert type(teacher.model).__name__ == "Qwen2VLForConditionalGeneration"

    with contextlib.suppress(Exception):  # whether the remote class then loads does not matter here
        make_teacher(f"vlm:{folder}", trust_remote_code=True)
    assert ran.read_text() == "ran"
