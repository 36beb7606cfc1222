"""The README.md model card a run writes into every student folder.

A student folder is meant to travel: ``config.json`` and ``model.safetensors``
make it load anywhere the backbone's weights are; the card says what it is and
where it came from (backbone and weights, teachers and their reliability,
rounds, held-out figures, frame sampling, package versions) and what the
licences of its teachers ask of whoever uses it.
"""

from __future__ import annotations

import math
from importlib import metadata
from pathlib import Path

# where each teacher family's code or weights come from: the package whose licence applies
TEACHER_PACKAGES = {"pyiqa": "pyiqa", "fr": "pyiqa", "classic": "brisque"}
OTHER_LICENCES = {
    "vlm": "the model's own licence (see its model card on the hub or in its folder)",
    "table": "the licence of the model that computed the table's scores",
    "student": "the card of that student",
}


def _licence(package: str) -> str:
    try:
        info = metadata.metadata(package)
    except metadata.PackageNotFoundError:
        return "not installed here"
    return info.get("License-Expression") or info.get("License") or "not stated in its metadata"


def licence_notes(teachers: list[str]) -> list[str]:
    """One line per teacher family: the licence that its scores inherit."""
    lines = []
    for family in dict.fromkeys(t.split(":", 1)[0] for t in teachers):
        if family in TEACHER_PACKAGES:
            package = TEACHER_PACKAGES[family]
            lines.append(f"- `{family}:` teachers: the `{package}` package, licence {_licence(package)}")
        else:
            lines.append(f"- `{family}:` teachers: {OTHER_LICENCES.get(family, 'unknown: check its source')}")
    return lines


def _fmt(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def model_card(student: dict, run: dict) -> str:
    """The card's Markdown. ``student``: name, backbone, backbone_options, description, extras, prior,
    round, sampler, max_side, trainable_share. ``run``: name, config teachers, reliability summary of
    the round's teachers, held-out metrics (or None), versions."""
    teachers = run["teachers"]
    lines = [
        f"# {student['name']}",
        "",
        f"A no-reference video quality student trained by w2s-vqa without human "
        f"opinion scores: round {student['round']} of the run `{run['name']}`. Higher scores are better.",
        "",
        "```python",
        "import w2s",
        "scorer = w2s.load('path/to/this/folder')",
        "scorer('video.mp4')",
        "```",
        "",
        "## What it is",
        "",
        f"- Backbone (frozen): `{student['backbone']}`: {student['description']}",
        f"- Backbone options: `{student['backbone_options'] or {}}`; appended features: "
        f"{', '.join(k for k, on in student['extras'].items() if on) or 'none'}",
        f"- Calibration branch: the only part that trained; {student['trainable_share']:.2%} of the frozen "
        "backbone's parameters",
        f"- Prior: {'the weak ensemble of ' + ', '.join(student['prior']) + ' (run again when it scores a file)' if student['prior'] else 'none'}",
        f"- Frames: `{student['sampler']}`, longer side at most {student['max_side'] or 'full size'}",
        "",
        "## What it learned from",
        "",
        f"- Teachers of round 0: {', '.join(f'`{t}`' for t in teachers)}; each later round adds the previous student",
        f"- Rounds: {student['round'] + 1} (this is round {student['round']})",
        "",
        "| teacher | reliability within content | across contents | weight within | weight across |",
        "|---|---|---|---|---|",
    ]
    rel = run["reliability"]
    for column, within in rel.get("reliability", {}).items():
        lines.append(f"| {column.removeprefix('score:')} | {_fmt(within)} | {_fmt(rel.get('reliability_across', {}).get(column))} "
                     f"| {_fmt(rel.get('weights', {}).get(column))} | {_fmt(rel.get('weights_across', {}).get(column))} |")
    lines += ["", "## Held-out evaluation (no human scores)", ""]
    metrics = run.get("metrics")
    if metrics:
        lines += ["Held-out content of the run: SRCC with the severity order of families seen (ID) and never seen "
                  "(OOD) in training, and with VMAF of codec variants across contents.", "",
                  "| model | ID SRCC | OOD SRCC | VMAF SRCC |", "|---|---|---|---|"]
        for model, m in metrics.items():
            lines.append(f"| {model} | {_fmt(m.get('id_srcc'))} | {_fmt(m.get('ood_srcc'))} | {_fmt(m.get('vmaf_srcc'))} |")
    else:
        lines.append("None: the run had no held-out set.")
    lines += ["", "## Licences", "",
              "The student's scores are learned from its teachers; whoever uses it should check what their "
              "licences allow (a non-commercial teacher's knowledge is in the student):", "",
              *licence_notes(teachers), "",
              "## Versions", "", *[f"- {k}: {v}" for k, v in run.get("versions", {}).items()], ""]
    return "\n".join(lines)


def write_model_card(folder: Path, student: dict, run: dict) -> Path:
    from w2s.core import io

    path = Path(folder) / "README.md"
    io.write_text(model_card(student, run), path)
    return path
