"""The README.md model card a run writes into every student folder.

A student folder is meant to travel: ``config.json`` and ``model.safetensors``
make it load anywhere the backbone's weights are; the card says what it is and
where it came from (backbone and weights, the training pool and its distortion
families, teachers and their reliability, rounds, held-out figures, frame
sampling, package versions), where it is weak (families never in training,
leave-one-family-out), what its 0-100 scale means, and what the licences of its
teachers ask of whoever uses it. Every figure comes from the run's files.
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


def pool_lines(pool: dict | None) -> list[str]:
    """"What it saw": the training pool's clips, where they came from, and each family's ladder."""
    if not pool:
        return []
    lines = ["## What it saw", "",
             f"- Training pool: {pool['clips']} clean clip(s) from `{pool['source']}` (`pool.source`) and their "
             f"distorted variants, {pool['items']} items in all", "",
             "| family | levels (mildest first) | items | labelled by |", "|---|---|---|---|"]
    for family, f in pool["families"].items():
        lines.append(f"| {family} | {f['strength'] or 'levels'}: {', '.join(map(str, f['ladder']))} | {f['items']} | {f['labels']} |")
    return lines + ["", "It saw no other distortion: a family not in this table was never in its training.", ""]


def _lofo_line(weak: dict) -> str:
    lofo, setting = weak.get("lofo"), weak.get("lofo_setting", "none")
    if lofo is None:
        return f"- Leave-one-family-out: not run (`eval.lofo: {setting}`)"
    if "mean_srcc" not in lofo:
        return (f"- Leave-one-family-out (`eval.lofo: {setting}`) measured {', '.join(lofo['rounds']) or 'no student'}, "
                "not this round")
    return (f"- Leave-one-family-out (each training family held out of training in turn, SRCC with its severity "
            f"order on the training pool): mean {_fmt(lofo['mean_srcc'])} over {lofo['families']} families; weakest "
            f"`{lofo['worst_family']}` ({_fmt(lofo['worst_srcc'])}); {lofo['backwards']} ranked backwards where the "
            "best single teacher ranks them forwards")


def weak_lines(weak: dict | None) -> list[str]:
    """"Where it is weak": the families never in training (with their held-out SRCC when measured),
    the weakest held-out family, and leave-one-family-out, as far as the run measured them."""
    if not weak:
        return []
    lines = ["## Where it is weak", ""]
    if weak["ood"]:
        measured = ", ".join(f"`{f}` ({'SRCC ' + _fmt(v) if v is not None else 'not measured'})"
                             for f, v in weak["ood"].items())
        lines.append(f"- Families never in training (`eval.ood`), SRCC with their severity order on held-out "
                     f"content: {measured}")
    else:
        lines.append("- Families never in training: none was measured (`eval.ood` is empty)")
    if not weak["evaluated"]:
        lines.append("- Held-out content: not measured (the run had no held-out set: `eval.source: none`)")
    elif weak["weakest"]:
        w = weak["weakest"]
        lines.append(f"- Weakest family on held-out content: `{w['family']}` (SRCC {_fmt(w['srcc'])}, "
                     f"{'never in training' if w['ood'] else 'a training family'})")
    return lines + [_lofo_line(weak), ""]


def scale_lines(scale) -> list[str]:
    """What 0, 50 and 100 of the student's ``score_100`` mean, from its saved scale (:mod:`w2s.core.scale`)."""
    if not scale:
        return []
    lines = ["## The 0-100 scale (`score_100`)", ""]
    if isinstance(scale, dict):
        q1, q3 = scale["clean_quartiles"]
        lo, hi = scale["pool_range"]
        lines += [f"- 50: raw score {scale['center']:.4g}, the median of {scale['of']}",
                  f"- about 25 and 75: their quartiles (raw {q1:.4g} and {q3:.4g})",
                  f"- 0 and 100: never reached inside the training pool's range (raw {lo:.4g} to {hi:.4g}); the map "
                  "is a logistic in the raw score, so it ranks exactly as the raw score does"]
        if scale.get("distorted_below_50") is not None:
            lines.append(f"- {scale['distorted_below_50']:.0%} of the pool's distorted variants score below 50")
    else:  # a student saved before the logistic scale: percentiles of every training item
        lines.append("- the share of its training items (clean and distorted) scored below: 50 a typical training "
                     "item, 0 worse than all, 100 better than all")
    return lines + ["", "It is no human scale (MOS). `w2s calibrate` fine-tunes the student on a share of a "
                    "human-rated set (pairs ordered by their MOS) and refits this scale on that set's videos "
                    "(50: its median video); its scores are still not in MOS units.", ""]


def model_card(student: dict, run: dict) -> str:
    """The card's Markdown. ``student``: name, backbone, backbone_options, description, extras, prior,
    round, sampler, max_side, trainable_share, scale (its saved 0-100 scale, optional). ``run``: name,
    config teachers, reliability summary of the round's teachers, held-out metrics (or None),
    versions, and optionally pool (:func:`w2s.run.facts.pool_facts`) and weak
    (:func:`w2s.run.facts.weak_spots`)."""
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
        *pool_lines(run.get("pool")),
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
        lines.append("None: the run had no held-out set (`eval.source: none`).")
    lines += ["", *weak_lines(run.get("weak")), *scale_lines(student.get("scale")), "## Licences", "",
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
