"""The plugin contract: every registry entry satisfies its protocol, and describes itself once.

Adding a teacher, distortion or backbone adds it to these checks through its registry line alone.
"""

import pytest

from distortions import DISTORTIONS
from students import BACKBONE_FAMILIES, BACKBONES
from teachers import TEACHER_FAMILIES
from w2s.core import protocols
from w2s.core.registry import split_description

ENTRIES = [
    *[(TEACHER_FAMILIES, n, protocols.Teacher) for n in TEACHER_FAMILIES.names()],
    *[(DISTORTIONS, n, protocols.Distortion) for n in DISTORTIONS.names()],
    *[(BACKBONES, n, protocols.Backbone) for n in BACKBONES.names()],
    *[(BACKBONE_FAMILIES, n, protocols.Backbone) for n in BACKBONE_FAMILIES.names()],
]


@pytest.mark.parametrize("registry, name, protocol", ENTRIES, ids=[f"{r.kind}:{n}" for r, n, _ in ENTRIES])
def test_every_registry_entry_satisfies_its_protocol(registry, name, protocol):
    cls = registry.resolve(name)
    assert protocols.missing_members(cls, protocol) == []
    # facts are plain booleans on the class, read by the engine without building anything
    for fact in ("thread_safe", "takes_device", "full_reference", "scored_by_vmaf", "aligned"):
        if fact in protocols.protocol_members(protocol):
            assert isinstance(getattr(cls, fact), bool), fact
    # the listing reads the docstring without importing the plugin; it says what describe() says
    usage, line = registry.describe(name)
    assert (usage, line) == split_description(cls.describe(), name) and line


def test_the_check_finds_what_is_missing():
    class Half:
        name = "half"

        def score(self, clip):
            return 0.0

    assert protocols.missing_members(Half, protocols.Teacher) == ["check", "close", "describe", "full_reference", "takes_device", "thread_safe"]


def test_built_plugins_are_instances_of_their_protocol(backbone):
    from teachers import make_teacher

    assert isinstance(make_teacher("pyiqa:piqe"), protocols.Teacher)
    assert isinstance(make_teacher("classic:sharpness"), protocols.Teacher)
    assert isinstance(DISTORTIONS.resolve("h264")(), protocols.Distortion)
    assert isinstance(backbone, protocols.Backbone)


def test_facts_the_engine_reads():
    assert TEACHER_FAMILIES.resolve("vlm").thread_safe is False and TEACHER_FAMILIES.resolve("vlm").takes_device
    assert TEACHER_FAMILIES.resolve("pyiqa").takes_device and not TEACHER_FAMILIES.resolve("table").takes_device
    assert BACKBONE_FAMILIES.resolve("vlm").thread_safe is False
    codecs = {n for n in DISTORTIONS.names() if DISTORTIONS.resolve(n).scored_by_vmaf}
    assert codecs == {"h264", "h265", "vp9", "av1"}
    moved = {n for n in DISTORTIONS.names() if not DISTORTIONS.resolve(n).aligned}
    assert moved == {"jitter", "stutter", "framerate"}


def test_listing_names_each_family_with_its_usage():
    assert TEACHER_FAMILIES.describe("pyiqa")[0] == "pyiqa:NAME"
    assert TEACHER_FAMILIES.describe("table")[0] == "table:PATH"
    assert BACKBONES.describe("efficientnet_lite0")[0] == "efficientnet_lite0"
    assert DISTORTIONS.describe("blur") == ("blur", "Gaussian blur of every frame; the ladder lists sigma in pixels.")
