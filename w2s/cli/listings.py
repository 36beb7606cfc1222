"""``w2s list`` and ``w2s config``: what can be named in a config, and every config key."""

from __future__ import annotations

import sys
from pathlib import Path

from w2s.cli.show import console
from w2s.core.errors import W2SError


def cmd_list(args) -> int:
    from rich.table import Table

    if args.what == "teachers" and args.run:
        t = _teachers_of_run(Path(args.run))
    elif args.what == "teachers":
        t = _teachers_table(args.all)
    elif args.what == "distortions":
        from distortions import DISTORTIONS

        t = Table("distortion", "levels", "default ladder (mildest first)", "what it does")
        for name in DISTORTIONS.names():
            d = DISTORTIONS.resolve(name)()
            t.add_row(name, str(d.levels), ", ".join(map(str, d.ladder)), DISTORTIONS.describe(name)[1])
    elif args.what == "datasets":
        from w2s.labelled.presets import PRESETS

        t = Table(caption="w2s evaluate --dataset PRESET --root DIR; override any field with --option KEY=VALUE; "
                          "what could not be confirmed for each: README, Presets")
        t.add_column("preset", no_wrap=True)
        t.add_column("label file", overflow="fold")
        t.add_column("score column", overflow="fold")
        t.add_column("range", no_wrap=True)
        for p in PRESETS:
            score = f"{p.mos_column} ({'lower' if p.lower_better else 'higher'} is better)"
            span = "-" if p.mos_range is None else f"{p.mos_range[0]:g} to {p.mos_range[1]:g}"
            t.add_row(p.name, p.label_file[-1], score, span)
    else:
        from students import BACKBONE_FAMILIES, BACKBONES

        t = Table("backbone", "what it is")
        for table in (BACKBONES, BACKBONE_FAMILIES):
            for name in table.names():
                t.add_row(*table.describe(name))
        # written out, not read from students.multi: `w2s list` never loads torch
        t.add_row("[NAME, NAME, ...]", "several frozen image backbones (plain or timm:), features side by side, "
                  "each block balanced in the head; `w2s select-backbones RUN --candidates ...` picks which")
        t.caption = ("student.motion appends 12 frame-difference statistics; student.temporal the change of per-frame "
                     "features; student.nss 32 natural-scene statistics")
    console().print(t)
    return 0


def cmd_config(args) -> int:
    """Every config key (or those under a prefix), its type, default and help."""
    from w2s.config import explain

    rows = explain(args.prefix or "")
    if args.markdown:
        cell = lambda text: str(text).replace("|", "\\|")  # a pipe inside a cell would end it
        sys.stdout.write("| key | type | default | help |\n|---|---|---|---|\n")
        for r in rows:
            sys.stdout.write(f"| `{r.key}` | {cell(r.type)} | `{cell(r.default)}` | {cell(r.help)} |\n")
        return 0
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"config keys{f' under {args.prefix}' if args.prefix else ''}",
              caption="set them in a YAML config, or with `w2s run CONFIG --set KEY=VALUE`; unknown keys fail")
    t.add_column("key", no_wrap=True)
    t.add_column("type", overflow="fold", max_width=24)
    t.add_column("default", overflow="fold", max_width=30)
    t.add_column("help", overflow="fold", ratio=1)  # the help takes the width the others leave
    for r in rows:
        t.add_row(*map(escape, r))  # a default like [0.9, 0.6] is text, not rich markup
    console().print(t)
    return 0


# teachers whose every name is known without importing them: family -> (module, the dict of names)
NAMED = {"classic": ("teachers.classic", "METRICS"), "fr": ("teachers.full_reference", "FR_METRICS")}
# python packages a weight-free teacher imports beyond torch (``fr:*``: every name of the family)
PACKAGES = {"classic:brisque": ("brisque", "cv2"), "fr:*": ("pyiqa",)}
FR_NOTE = "full-reference, in a run only: "
# families that need no weight file and no extra package: they run wherever w2s does
WEIGHT_FREE = {"redistort", "niqe"}


def _teachers_table(show_all: bool):
    """What runs here first (weight-free teachers, pyiqa metrics whose files are here), then the
    families named by a path; ``show_all`` adds every pyiqa metric that lacks its weight files."""
    from rich.table import Table

    from teachers import TEACHER_FAMILIES
    from teachers.pyiqa_requirements import FOLDERS, all_availability

    avail = all_availability()  # looked up on disk from each metric's known weight files (no model is built)
    here, patterns = [], []
    for family in TEACHER_FAMILIES.names():
        if family not in NAMED:  # a family named by a path or an id: its pattern, and what it is
            usage, about = TEACHER_FAMILIES.describe(family)
            patterns.append((usage, "yes" if family in WEIGHT_FREE else "", about))
        for name, note in _names_of(family).items():
            missing = [p for p in PACKAGES.get(name, PACKAGES.get(f"{family}:*", ())) if not _installed(p)]
            here.append((name, "no" if missing else "yes",
                         (FR_NOTE if family == "fr" else "") + note + "".join(f"; needs python package {p}" for p in missing)))
    here += [(f"pyiqa:{m}", "yes", "weight files found here" if a.needs else "weight-free")
             for m, a in avail.items() if a.ready]
    rows = here + patterns + [(f"pyiqa:{m}", "no", a.reason()) for m, a in avail.items() if show_all and not a.ready]
    lacking = sum(not a.ready for a in avail.values())
    if show_all:
        caption = "where weight files were looked for: " + "; ".join(
            f"{prefix} = {label} ({where()})" for label, prefix, where in FOLDERS.values()) + (
            ". Building a pyiqa teacher that cannot run says how to provide what it lacks.")
    else:
        caption = (f"{lacking} more pyiqa metrics need weight files that are not here: `w2s list teachers --all` "
                   "lists each with what it lacks and where it was looked for.") if lacking else ""
    t = Table(caption=caption)
    t.add_column("teacher", no_wrap=True)
    t.add_column("runs here")
    t.add_column("notes / why not", overflow="fold")  # file names in full, never cut with an ellipsis
    for row in sorted(rows, key=lambda r: 0 if r[1] == "yes" else 1 if r[1] == "" else 2):  # what runs here first
        t.add_row(*row)
    return t


def _names_of(family: str) -> dict[str, str]:
    """``{"FAMILY:NAME": one line}`` for a family in :data:`NAMED`, read from its module's source (``ast``:
    `w2s list` never imports torch); the line is the dict's text, or the first docstring line of its function."""
    import ast
    import importlib.util

    if family not in NAMED:
        return {}
    module, variable = NAMED[family]
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8"))
    docs = {n.name: ast.get_docstring(n) or "" for n in tree.body if isinstance(n, ast.FunctionDef)}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0] if isinstance(node, ast.Assign) else None
        if getattr(target, "id", None) == variable and isinstance(node.value, ast.Dict):
            out = {}
            for key, value in zip(node.value.keys, node.value.values):
                text = value.value if isinstance(value, ast.Constant) else docs.get(getattr(value, "id", ""), "")
                out[f"{family}:{key.value}"] = (text.strip().splitlines() or [""])[0].replace("``", "")
            return out
    raise W2SError(f"{module} has no literal dict {variable} to read the names of {family}: teachers from")


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None


def _teachers_of_run(run: Path):
    """Each teacher's reliability and ensemble weight in the last round a run has written."""
    from rich.table import Table

    from w2s.core.io import read_json
    from w2s.run.context import open_run

    folder = open_run(run).folder
    rounds = folder.rounds_written()
    if not rounds:
        raise W2SError(f"{run}: no round has written teachers.json yet")
    info = read_json(folder.round(rounds[-1]).teachers)
    t = Table("teacher", "within content", "across contents", "weight within", "weight across",
              title=f"round {rounds[-1]} of {run}",
              caption="reliability without MOS: within content, accuracy on the pool's known-order distortion pairs; "
                      "across contents, agreement with the full-reference consensus on variants of different contents "
                      "and with the other teachers' consensus on clean clips (w2s/run/reliability.py)")
    fmt = lambda v: "-" if v is None or v != v else f"{v:.3f}"
    for col, rel in info["reliability"].items():
        t.add_row(col.removeprefix("score:"), fmt(rel), fmt(info.get("reliability_across", {}).get(col)),
                  fmt(info["weights"][col]), fmt(info.get("weights_across", {}).get(col)))
    return t

