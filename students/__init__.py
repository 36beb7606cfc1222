"""Students: a frozen perception backbone plus a small calibration branch.

A backbone is named by a spec:

- a plain name from ``BACKBONES``: ``efficientnet_lite0`` (its weights ship
  in a package);
- ``timm:MODEL_NAME``: any timm image model, e.g. ``timm:resnet18``,
  ``timm:convnext_tiny`` (:mod:`students.timm_backbone`);
- ``vlm:PATH_OR_ID``: a vision-language model's features and its own score
  (``students.vlm_backbone``);
- ``clip:PATH``: a frozen CLIP's image embeddings, for the Q-CLIP branch
  (``student.head: quality_prompts``, :mod:`students.quality_prompts`);
- a list of plain or ``timm:`` specs, e.g. ``[efficientnet_lite0,
  efficientnet_lite2]``: their features side by side, each block balanced in
  the head (:mod:`students.multi`); its options are given per backbone,
  ``{efficientnet_lite2: {weights: PATH}}``.

``make_backbone(spec, **options)`` builds one (``motion=True`` /
``temporal=True`` wrap it in :class:`students.perception.Perception`);
``check_backbone(spec)`` validates a spec without loading any weights. A
family class is called as ``cls(ARG, **options)`` and defines a static
``check(ARG)`` for that validation.
"""

from __future__ import annotations

import inspect

from w2s.core.errors import W2SError
from w2s.core.registry import Registry, suggest

BACKBONES = Registry(
    "backbone",
    {
        "efficientnet_lite0": "students.efficientnet_lite:EfficientNetLite0",
        "efficientnet_lite2": "students.efficientnet_lite:EfficientNetLite2",
    },
)

BACKBONE_FAMILIES = Registry(
    "backbone family",
    {
        "timm": "students.timm_backbone:TimmBackbone",
        "vlm": "students.vlm_backbone:VLMBackbone",
        "clip": "students.clip_backbone:CLIPBackbone",
    },
)

# options every spec takes: they add features after the backbone (students.perception)
PERCEPTION_OPTIONS = ("motion", "temporal", "nss")


def split_spec(spec: str) -> tuple[str | None, str]:
    """``'timm:resnet18'`` -> ``('timm', 'resnet18')``; a plain name -> ``(None, name)``. Validates names only."""
    families = ", ".join(BACKBONE_FAMILIES.names())
    if not isinstance(spec, str) or not spec.strip():
        raise W2SError(f"a backbone must be a name like 'efficientnet_lite0' or 'timm:resnet18', got {spec!r}")
    family, sep, arg = spec.partition(":")
    if not sep:
        if spec not in BACKBONES:
            raise W2SError(
                f"unknown backbone {spec!r}: {suggest(spec, BACKBONES.names())} "
                f"(or FAMILY:ARG with a family among {families}, e.g. 'timm:resnet18')"
            )
        return None, spec
    if family not in BACKBONE_FAMILIES:
        raise W2SError(f"unknown backbone family {family!r} in {spec!r}: {suggest(family, BACKBONE_FAMILIES.names())}")
    if not arg:
        raise W2SError(f"backbone {spec!r} names no model after '{family}:', e.g. 'timm:resnet18'")
    return family, arg


def is_multi(spec) -> bool:
    """Whether ``spec`` is a list of backbones (:mod:`students.multi`)."""
    return isinstance(spec, (list, tuple))


def spec_label(spec) -> str:
    """A spec as one line of text: a list as its names joined by commas."""
    return ",".join(spec) if is_multi(spec) else str(spec)


def backbone_class(spec):
    """(class, ARG or None) that a spec builds; the class carries the backbone's facts.
    A list builds a :class:`students.multi.MultiBackbone` with the list as its ARG."""
    if is_multi(spec):
        from students.multi import MultiBackbone

        return MultiBackbone, list(spec)
    family, arg = split_spec(spec)
    if family is None:
        return BACKBONES.resolve(arg), None
    return BACKBONE_FAMILIES.resolve(family), arg


def describe_spec(spec) -> str:
    """One line on what a spec is: its class's description (each part's, for a list)."""
    if is_multi(spec):
        return "; ".join(f"{s}: {describe_spec(s)}" for s in spec)
    family, arg = split_spec(spec)
    return (BACKBONES.describe(arg) if family is None else BACKBONE_FAMILIES.describe(family))[1]


def _check_options(spec: str, cls, has_arg: bool, options: dict) -> None:
    params = list(inspect.signature(cls).parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params[1 if has_arg else 0 :] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join([*accepted, *PERCEPTION_OPTIONS])
        raise W2SError(f"backbone {spec!r} takes no option {', '.join(map(repr, unknown))} (its options: {allowed})")


def check_backbone(spec, **options) -> None:
    """Raise a one-line :class:`W2SError` if ``spec`` (and any ``options``) cannot name a backbone.

    Loads no weights: plain names are looked up in ``BACKBONES``, families run
    their class's ``check(ARG)`` (for timm: the model and tag exist in timm).
    """
    cls, arg = backbone_class(spec)
    perception = {k: options.pop(k) for k in PERCEPTION_OPTIONS if k in options}
    _check_options(spec, cls, arg is not None, options)
    for key, value in perception.items():
        if not isinstance(value, bool):
            raise W2SError(f"backbone option {key} must be true or false, got {value!r}")
    if is_multi(spec):
        cls.check(arg)
        for member in arg:
            check_backbone(member)
        for name, opts in options.items():
            if name not in arg or not isinstance(opts, dict):
                raise W2SError(f"backbone options of a list are {{NAME: {{option: value}}}} with NAME in {arg}, "
                               f"got {name!r}: {opts!r}")
            check_backbone(name, **opts)
    elif arg is not None:
        cls.check(arg)


def make_backbone(spec, *, motion: bool = False, temporal: bool = False, nss: bool = False, device: str | None = None,
                  **options):
    """Build the backbone named by ``spec``; with ``motion``, ``temporal`` or ``nss``, wrapped in a Perception.

    ``device``: a backbone that takes one (a VLM) is loaded straight onto it; any other is built on
    the CPU and moved there.

    >>> make_backbone("timm:resnet18", pretrained=False, motion=True).dim  # doctest: +SKIP
    2060
    """
    from w2s.core.untrusted import no_unpickling

    cls, arg = backbone_class(spec)
    if device is not None and cls.takes_device:
        options.setdefault("device", device)
    _check_options(spec, cls, arg is not None, options)
    if is_multi(spec):
        options["make_member"] = make_backbone
    with no_unpickling():  # every weights file is loaded weights-only (w2s.core.untrusted)
        backbone = cls(**options) if arg is None else cls(arg, **options)
    if motion or temporal or nss:
        from students.perception import Perception

        backbone = Perception(backbone, motion=motion, temporal=temporal, nss=nss)
    return backbone if device is None else backbone.to(device)


__all__ = ["BACKBONES", "BACKBONE_FAMILIES", "backbone_class", "check_backbone", "describe_spec", "is_multi", "make_backbone",
           "spec_label", "split_spec"]
