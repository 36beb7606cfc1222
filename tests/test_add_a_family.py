"""The README's "Add a distortion family" example runs as written: one file plus one registry line."""

import re
import sys
import types
from pathlib import Path

import torch

from distortions import DISTORTIONS
from w2s.core import protocols
from w2s.core.clip import Clip
from w2s.core.registry import Registry
from w2s.media.samplers import UniformSampler
from w2s.run.label import LabelJob, label_video
from w2s.testing.doubles import MeanBackbone, RecordingTeacher

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> tuple[str, str]:
    """The example's file (its path and its code) and its registry line, from the README."""
    text = README.read_text()
    section = text[text.index("## Add a distortion family") :]
    path, code = re.search(r"```python\n# (distortions/\w+\.py)\n(.*?)```", section, re.DOTALL).groups()
    line = re.search(r'^\s*("\w+": "distortions\.\w+:\w+",)', section, re.MULTILINE).group(1)
    return path, code, line


def test_the_readme_example_is_a_working_family(monkeypatch):
    path, code, line = readme_example()
    module_name = path.removesuffix(".py").replace("/", ".")
    module = types.ModuleType(module_name)
    exec(compile(code, path, "exec"), module.__dict__)  # noqa: S102 - our own README's code
    monkeypatch.setitem(sys.modules, module_name, module)
    name, target = (s.strip().strip('",') for s in line.split(":", 1))
    registry = Registry("distortion", {**{n: DISTORTIONS._table[n] for n in DISTORTIONS.names()}, name: target})

    cls = registry.resolve(name)
    assert protocols.missing_members(cls, protocols.Distortion) == []
    family = cls()
    assert isinstance(family, protocols.Distortion) and family.levels == len(cls.DEFAULT_LADDER)
    # replayable from its params, and more severe level by level, as a family must be
    clip = Clip("v", torch.full((2, 3, 24, 32), 0.8), 4.0)
    job = LabelJob(UniformSampler(2), 0, 0, {name: family}, {"t": RecordingTeacher("t")}, MeanBackbone())
    rows, _ = label_video("v", clip, job)
    assert rows.item_id.tolist() == ["v", *[f"v#{name}@{k}" for k in range(1, family.levels + 1)]]
    brightness = rows["score:t"].tolist()
    assert brightness == sorted(brightness, reverse=True) and brightness[0] > brightness[-1]
    again = family.apply(clip, family.params(2, 7))
    assert torch.equal(again.frames, family.apply(clip, family.params(2, 7)).frames)
