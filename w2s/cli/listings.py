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
        from teachers import TEACHER_FAMILIES
        from teachers.pyiqa_requirements import FOLDERS, all_availability

        # pyiqa rows: looked up on disk from each metric's known weight files (no model is built)
        avail = all_availability()
        ready = [name for name, a in avail.items() if a.ready]
        t = Table(caption="where files were looked for: " + "; ".join(
                      f"{prefix} = {label} ({where()})" for label, prefix, where in FOLDERS.values())
                  + ". Building a pyiqa teacher that cannot run says how to provide what it lacks.")
        t.add_column("teacher", no_wrap=True)
        t.add_column("runs here")
        t.add_column("notes / why not", overflow="fold")  # file names in full, never cut with an ellipsis
        for family in TEACHER_FAMILIES.names():
            t.add_row(*TEACHER_FAMILIES.describe(family)[:1], "", TEACHER_FAMILIES.describe(family)[1])
        t.add_row("", "", f"pyiqa metrics ready here: {', '.join(ready) or 'none'}")
        for name, a in avail.items():
            t.add_row(f"pyiqa:{name}", "yes" if a.ready else "no", a.reason())
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

