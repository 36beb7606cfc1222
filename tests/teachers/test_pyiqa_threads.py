"""pyiqa teachers called from the label stage's worker threads at once give the scores of one at a time.

pyiqa's piqe keeps its last result on the module (``self.results = piqe(x)``, then
``return self.results[0]``): two threads sharing one module could return each other's
scores, which is what moved one piqe score of the quickstart between two runs. The
interleaving that does it is rare on its own (a thread switch between those two lines),
so the test below forces it.
"""

import threading

import torch
from pyiqa.archs.piqe_arch import PIQE

from teachers.pyiqa_teacher import PyiqaTeacher


def two_inputs():
    gen = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 1, 48).expand(1, 3, 48, 48)
    return [(ramp + s * torch.rand(1, 3, 48, 48, generator=gen)).clamp(0, 1) for s in (0.05, 0.4)]


def test_piqe_from_two_threads_gets_its_own_score_when_the_other_stores_in_between(monkeypatch):
    teacher = PyiqaTeacher("piqe")
    frames = two_inputs()
    alone = [teacher.frame_scores(f) for f in frames]
    assert not torch.equal(alone[0], alone[1])

    first_stored, second_stored = threading.Event(), threading.Event()
    plain = torch.nn.Module.__setattr__

    def setattr_then_wait(module, name, value):
        # the first thread stores its result, then waits until the second has stored its own,
        # and only then reads `self.results[0]`: the interleaving of the race, made certain
        plain(module, name, value)
        if name != "results":
            return
        if threading.current_thread().name == "first":
            first_stored.set()
            second_stored.wait(timeout=5)
        else:
            second_stored.set()

    monkeypatch.setattr(PIQE, "__setattr__", setattr_then_wait)
    got = {}

    def first():
        got["first"] = teacher.frame_scores(frames[0])

    def second():
        first_stored.wait(timeout=5)
        got["second"] = teacher.frame_scores(frames[1])

    threads = [threading.Thread(target=first, name="first"), threading.Thread(target=second, name="second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert second_stored.is_set(), "the second thread never stored: the scenario did not happen"
    assert torch.equal(got["first"], alone[0]), (got["first"], alone[0], alone[1])
    assert torch.equal(got["second"], alone[1])


def test_a_metric_with_weights_is_shared_and_its_calls_take_turns(monkeypatch):
    import teachers.pyiqa_teacher as module

    monkeypatch.setattr(module, "SMALL_METRIC", -1)  # piqe, treated as a large model
    teacher = PyiqaTeacher("piqe")
    frames = two_inputs()
    alone = [teacher.frame_scores(f) for f in frames]
    inside, overlap = [0], []
    forward = teacher.model.forward

    def counted(*args, **kwargs):
        inside[0] += 1
        overlap.append(inside[0])
        try:
            return forward(*args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(teacher.model, "forward", counted)
    got = [None, None]

    def work(i):
        for _ in range(20):
            got[i] = teacher.frame_scores(frames[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(overlap) == 40 and max(overlap) == 1  # never two forwards of the one model at once
    assert torch.equal(got[0], alone[0]) and torch.equal(got[1], alone[1])


def test_each_thread_keeps_one_copy():
    teacher = PyiqaTeacher("piqe")
    x = two_inputs()[0]
    models = {}

    def work(i):
        teacher.frame_scores(x)
        models[i] = teacher._local.model

    for i in range(2):
        t = threading.Thread(target=work, args=(i,))
        t.start()
        t.join()
    teacher.frame_scores(x)
    assert models[0] is teacher.model and models[1] is not teacher.model  # the first keeps the original
    assert teacher._local.model is not models[1]
