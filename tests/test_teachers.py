import pytest
import torch

from teachers import check_teacher, make_teacher
from w2s.core.errors import W2SError
from w2s.media.decode import read_clip
from w2s.media.samplers import UniformSampler
from w2s.media.sources import sources


@pytest.fixture(scope="module")
def real_clip():
    path = next(s.path for s in sources("all") if s.name == "bikes")
    return read_clip(path, UniformSampler(3), max_side=160)


def test_entropy_fast_path_equals_pyiqa(real_clip):
    teacher = make_teacher("pyiqa:entropy")
    frames = torch.cat([real_clip.frames, real_clip.frames * 0.3])
    reference = teacher.model(frames).reshape(-1)
    assert torch.allclose(teacher.frame_scores(frames), reference, atol=1e-5)


def test_lower_is_better_metric_is_negated(real_clip):
    piqe = make_teacher("pyiqa:piqe")
    assert piqe.lower_better
    raw = piqe.frame_scores(real_clip.frames).mean().item()
    assert piqe.score(real_clip) == pytest.approx(-raw)


def test_noise_lowers_piqe_teacher_score(real_clip):
    # oriented higher-is-better: heavy noise must score worse than the clean clip
    piqe = make_teacher("pyiqa:piqe")
    g = torch.Generator().manual_seed(0)
    noisy = (real_clip.frames + 0.15 * torch.randn(real_clip.frames.shape, generator=g)).clamp(0, 1)
    assert piqe.score(real_clip.with_frames(noisy)) < piqe.score(real_clip)


def test_unknown_names_suggest_close_matches():
    with pytest.raises(W2SError, match="did you mean 'piqe'"):
        check_teacher("pyiqa:piqee")
    with pytest.raises(W2SError, match="did you mean 'pyiqa'"):
        check_teacher("pyqia:piqe")
    with pytest.raises(W2SError, match="FAMILY:ARG"):
        check_teacher("piqe")
    with pytest.raises(W2SError, match="no saved student"):
        check_teacher("student:/does/not/exist")


@pytest.mark.parametrize("name", ["pyiqa:entropy", "fr:psnr"])
def test_frame_wise_teachers_check_their_frame_options_alike(name):
    from teachers import make_teacher

    with pytest.raises(W2SError, match=rf"{name}: unknown pooling 'avg'.*mean"):
        make_teacher(name, pooling="avg")
    with pytest.raises(W2SError, match=rf"{name}: frame_batch must be a positive integer, got 0"):
        make_teacher(name, frame_batch=0)
