"""Which pyiqa metrics can run here, and why not: derived statically, checked against real constructions."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from teachers import pyiqa_requirements as pw
from teachers.download_guard import try_build
from w2s.core.errors import MissingWeightsError

CNNIQA_FILE = "CNNIQA_koniq10k-e6f14c91.pth"


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """TORCH_HOME and the Hugging Face cache pointed at empty folders: nothing is found."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return {"torch": tmp_path / "torch", "hf": tmp_path / "hf"}


def _put(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not real weights")


@pytest.fixture
def nothing_built(monkeypatch):
    """Fail the test if a pyiqa model is built, a download starts or a socket connects."""
    import pyiqa
    import torch.hub

    attempts = []

    def refuse(what):
        def record(*a, **k):
            attempts.append(what)
            raise AssertionError(f"{what} was called: the look-up should only read the disk")

        return record

    monkeypatch.setattr(pyiqa, "create_metric", refuse("pyiqa.create_metric"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse("torch.hub.download_url_to_file"))
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    return attempts


def test_weight_free_metrics_are_ready_anywhere(empty_caches):
    for name in ("piqe", "entropy"):
        a = pw.availability(name)
        assert a.needs == [] and a.ready and a.reason() == ""


def test_every_nr_metric_has_a_rule_and_listing_builds_nothing(empty_caches, nothing_built):
    import pyiqa

    assert pw.nr_metrics() == sorted(pyiqa.list_models(metric_mode="NR"))
    avail = pw.all_availability()
    assert nothing_built == []  # only the disk was looked at: no model, no download, no network
    assert set(avail) == set(pw.nr_metrics())
    assert not [m for m, a in avail.items() if any("unknown to this check" in n for n in a.notes)]
    # with empty caches only the weight-free ones can run
    assert {m for m, a in avail.items() if a.ready} == {"piqe", "entropy"}


def test_missing_file_named_with_folder_then_ready_once_there(empty_caches):
    a = pw.availability("cnniqa")
    assert not a.ready
    assert [(n.name, n.folder) for n in a.missing] == [(CNNIQA_FILE, "pyiqa")]
    folder = empty_caches["torch"] / "hub" / "pyiqa"
    assert a.reason() == f"missing pyiqa/{CNNIQA_FILE}"
    assert f"{CNNIQA_FILE} is not in {folder}" in a.message()
    _put(folder / CNNIQA_FILE)  # a dummy of that name is enough for the look-up
    assert pw.availability("cnniqa").ready


def test_reasons_shrink_as_files_arrive(empty_caches):
    """DBCNN: a torchvision backbone in checkpoints/ and two pyiqa files; each is looked for in its own folder."""
    hub = empty_caches["torch"] / "hub"
    files = ["vgg16-397923af.pth", "DBCNN_scnn-7ea73d75.pth", "DBCNN_KonIQ10k-2de81c0a.pth"]
    assert [n.name for n in pw.availability("dbcnn").missing] == files
    _put(hub / "checkpoints" / files[0])
    assert pw.availability("dbcnn").reason() == f"missing pyiqa/{files[1]}, pyiqa/{files[2]}"
    _put(hub / "pyiqa" / files[0])  # the right name in the wrong folder does not count
    for f in files[1:]:
        _put(hub / "pyiqa" / f)
    assert pw.availability("dbcnn").ready


def test_timm_backbone_is_looked_for_in_the_hf_cache(empty_caches):
    a = pw.availability("hyperiqa")
    assert a.missing[0].short() == "HF:timm/resnet50.a1_in1k (model.safetensors)"
    repo = empty_caches["hf"] / "models--timm--resnet50.a1_in1k"
    _put(repo / "snapshots" / "abc123" / "model.safetensors")
    assert len(pw.availability("hyperiqa").missing) == 2  # no refs/main: offline loading would not find it
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    assert [n.name for n in pw.availability("hyperiqa").missing] == ["HyperIQA-resnet50-koniq10k-c96c41b1.pth"]


def test_optional_packages_are_reported():
    for metric, module in (("qalign", "icecream"), ("clipiqa", "pkg_resources")):
        missing = {n.name for n in pw.availability(metric).missing if n.kind == "package"}
        assert (module in missing) == (importlib.util.find_spec(module) is None)


@pytest.mark.parametrize("metric", ["cnniqa", "niqe", "arniqa", "hyperiqa"])
def test_static_requirements_match_what_pyiqa_asks_for(metric, empty_caches):
    """Build the metric with every download intercepted (and faked) and compare the requests with the table."""
    got = try_build(metric, follow=True)
    want = [n for n in pw.requirements(metric) if n.kind != "package"]
    assert [(n.kind, n.name, n.folder, n.hf_file) for n in got.requests] == [
        (n.kind, n.name, n.folder, n.hf_file) for n in want
    ]


@pytest.mark.skipif(importlib.util.find_spec("pkg_resources") is not None, reason="pkg_resources is installed here")
def test_missing_package_is_what_stops_pyiqa(empty_caches):
    got = try_build("clipiqa", follow=False)
    assert got.requests == [] and got.error == "ModuleNotFoundError: No module named 'pkg_resources'"


def test_backbone_tables_agree_with_torchvision_and_timm():
    import timm
    import torchvision.models as tvm

    enums = {"resnet18": tvm.ResNet18_Weights, "resnet34": tvm.ResNet34_Weights,
             "resnet50": tvm.ResNet50_Weights, "vgg16": tvm.VGG16_Weights}
    for arch, file in pw.TORCHVISION_FILES.items():
        assert os.path.basename(enums[arch].IMAGENET1K_V1.url) == file
    for name, repo in pw.TIMM_HF.items():
        assert timm.models.get_pretrained_cfg(name).hf_hub_id == repo


def test_teacher_error_names_file_folder_and_remedy(empty_caches, nothing_built):
    from teachers.pyiqa_teacher import PyiqaTeacher

    with pytest.raises(MissingWeightsError) as err:
        PyiqaTeacher("cnniqa")
    assert nothing_built == []  # decided on disk alone: no model built, no download or network attempted
    msg = str(err.value)
    folder = empty_caches["torch"] / "hub" / "pyiqa"
    assert f"{CNNIQA_FILE} is not in {folder}" in msg and "TORCH_HOME" in msg and f"copy that file into {folder}" in msg


def test_teacher_fails_fast_even_when_the_table_misses_a_file(empty_caches, monkeypatch):
    """Should the table be out of date, the download attempt itself is caught and named."""
    from teachers.pyiqa_teacher import PyiqaTeacher

    monkeypatch.setitem(pw.RULES, "CNNIQA", lambda opts: [])
    assert pw.availability("cnniqa").ready
    with pytest.raises(MissingWeightsError, match=f"{CNNIQA_FILE} is not in {empty_caches['torch'] / 'hub' / 'pyiqa'}"):
        PyiqaTeacher("cnniqa")


def test_cli_lists_every_nr_metric_with_its_status(empty_caches, monkeypatch, capsys):
    from w2s.cli import main

    monkeypatch.setenv("COLUMNS", "300")
    assert main(["list", "teachers", "--all"]) == 0  # the short default leaves out what cannot run here
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:4]]
            for line in capsys.readouterr().out.splitlines() if line.startswith("│ ")}
    assert {r.removeprefix("pyiqa:") for r in rows if r.startswith("pyiqa:") and r != "pyiqa:NAME"} == set(pw.nr_metrics())
    assert rows["pyiqa:piqe"] == ["yes", "weight-free"] and rows["pyiqa:entropy"] == ["yes", "weight-free"]
    assert rows["pyiqa:cnniqa"] == ["no", f"missing pyiqa/{CNNIQA_FILE}"]
    assert {"classic:brisque", "fr:ssim", "table:PATH", "vlm:PATH_OR_ID", "student:PATH"} <= set(rows)


def test_cli_listing_does_not_import_torch(empty_caches):
    code = "import sys; from w2s.cli import main; main(['list', 'teachers', '--all']); assert 'torch' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=os.environ | {"COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    assert "pyiqa:wadiqam_nr" in out.stdout


def test_requirements_table_does_not_import_torch_or_pyiqa(empty_caches):
    """The static table is what `w2s list teachers` reads; importing torch there would cost seconds."""
    code = ("import sys; import teachers.pyiqa_requirements as r; a = r.all_availability(); "
            "assert a['piqe'].ready and not a['cnniqa'].ready; "
            "assert not {'torch', 'pyiqa', 'teachers.download_guard'} & set(sys.modules), sorted(sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
