"""Teachers: anything that maps a clip to a quality score, higher is better.

Names are ``FAMILY:ARG``: ``pyiqa:piqe`` (any pyiqa no-reference metric),
``student:PATH`` (a saved student), ``table:PATH`` (scores computed elsewhere),
``classic:NAME`` (weight-free classical measures, spatial and temporal),
``vlm:PATH_OR_ID`` (a vision-language model scored zero-shot, Q-Align style),
``fr:NAME`` (a full-reference metric of a distorted variant against its clean
clip, e.g. ``fr:ssim``; abstains on clean clips), ``redistort:NAME`` (how much a
mild blur, resize and JPEG take away from the clip, by ``fr:NAME`` against itself),
``niqe:pristine`` (how far the clip's patch statistics are from pristine photos', NIQE's idea).
``make_teacher`` resolves a name lazily.
"""

from __future__ import annotations

from w2s.core.errors import W2SError
from w2s.core.registry import Registry, suggest

TEACHER_FAMILIES = Registry(
    "teacher family",
    {
        "pyiqa": "teachers.pyiqa_teacher:PyiqaTeacher",
        "student": "teachers.student_teacher:StudentTeacher",
        "table": "teachers.table_teacher:TableTeacher",
        "classic": "teachers.classic:ClassicTeacher",
        "vlm": "teachers.vlm_teacher:VLMTeacher",
        "fr": "teachers.full_reference:FullReferenceTeacher",
        "redistort": "teachers.redistortion:RedistortionTeacher",
        "niqe": "teachers.niqe:NIQETeacher",
    },
)


def split_name(name: str) -> tuple[str, str]:
    family, sep, arg = name.partition(":")
    if not sep or not arg:
        raise W2SError(
            f"teacher {name!r} must look like FAMILY:ARG, e.g. 'pyiqa:piqe' or 'student:runs/x/round_00/student' "
            f"(families: {', '.join(TEACHER_FAMILIES.names())})"
        )
    if family not in TEACHER_FAMILIES:
        raise W2SError(f"unknown teacher family {family!r} in {name!r}: {suggest(family, TEACHER_FAMILIES.names())}")
    return family, arg


def teacher_class(name: str):
    """The class a teacher name builds (its facts: ``thread_safe``, ``takes_device``, ``describe()``)."""
    return TEACHER_FAMILIES.resolve(split_name(name)[0])


def check_teacher(name: str) -> None:
    """Validate a teacher name without building the model (no weights are loaded)."""
    teacher_class(name).check(split_name(name)[1])


def make_teacher(name: str, device: str | None = None, **options):
    """Build the teacher called ``name`` (every weights file it loads is loaded weights-only: w2s.core.untrusted).

    ``device`` goes to a teacher that takes one and is ignored by the others (weight-free metrics run
    on the CPU); ``variant_share`` is the label stage's option, not the teacher's, and is dropped.
    """
    from w2s.core.untrusted import no_unpickling

    family, arg = split_name(name)
    cls = TEACHER_FAMILIES.resolve(family)
    options = {k: v for k, v in options.items() if k != "variant_share"}
    if device is not None and cls.takes_device:
        options.setdefault("device", device)
    with no_unpickling():
        return cls(arg, **options)
