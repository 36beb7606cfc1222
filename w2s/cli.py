"""The ``w2s`` command: run, score, samples, list.

Every command is ``main(argv)`` so it runs under ``python -m w2s``,
``accelerate launch -m w2s`` and pytest alike. Exit codes: 0 everything
scored, 1 some files could not be used (each is listed with its reason), 2 a
usage or config error (W2SError: one line), 3 a bug (one line; ``-v`` shows the
traceback), 130 interrupted (Ctrl-C: one line that says how to resume).
Third-party libraries' log lines and warnings are shown only with ``-v``.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from w2s.errors import W2SError

log = logging.getLogger("w2s")


def _console():
    from rich.console import Console

    return Console()


def show_table(k: int, table, title: str | None = None) -> None:
    """The round's results as a rich table on the terminal."""
    from rich.table import Table

    t = Table(title=title or f"round {k}: held-out content (SRCC of severity order; VMAF vs clean clip)")
    for col in table.columns:
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=col == "model")
    for _, row in table.iterrows():
        t.add_row(*[v if isinstance(v, str) else ("-" if math.isnan(v) else f"{v:.3f}") for v in row.tolist()])
    _console().print(t)


def cmd_run(args) -> int:
    from w2s.config import load_config
    from w2s.report import write_report
    from w2s.run import run
    from w2s.train import default_accelerator

    config = load_config(args.config, args.set)
    accelerator = default_accelerator()
    if not accelerator.is_main_process:
        logging.getLogger().setLevel(logging.WARNING)  # one process tells the story
    run_dir = run(config, stop_after=args.stop_after, on_round=show_table, accelerator=accelerator)
    if not accelerator.is_main_process:
        return 0
    if args.stop_after is None and config.eval.source != "none":
        report = write_report(config)
        _console().print(f"report: {report}")
    _console().print(f"run folder: {run_dir}")
    failures = run_dir / "failures.parquet"
    if failures.exists():
        import pandas as pd

        return _show_failures(pd.read_parquet(failures), "path", "error", failures)
    return 0


def _show_failures(df, path_column: str, reason_column: str, where) -> int:
    """The files that could not be used, with their reasons, on the terminal; 1 if any, else 0."""
    if not len(df):
        return 0
    from rich.table import Table

    t = Table("file", "why it was left out", title=f"{len(df)} file(s) could not be used (also in {where})")
    for path, reason in zip(df[path_column], df[reason_column]):
        t.add_row(str(path), str(reason))
    _console().print(t)
    return 1


def cmd_lofo(args) -> int:
    """Leave-one-family-out on a finished run's training pool: the same rounds without each family."""
    import dataclasses

    from rich.table import Table

    from w2s import io
    from w2s.config import load_run_config
    from w2s.label import load_labels
    from w2s.lofo import summarize_lofo
    from w2s.round import Labels
    from w2s.run import Context, leave_one_family_out
    from w2s.train import default_accelerator

    config = load_run_config(args.run)
    config = dataclasses.replace(config, eval=dataclasses.replace(config.eval, lofo=args.rounds))
    ctx = Context(config, default_accelerator())
    if not io.is_done(ctx.folder.label):
        raise W2SError(f"{args.run}: the label stage is not finished; run `w2s run` on its config first")
    ctx.backbone_info = io.read_json(ctx.folder.backbone)
    per_family = leave_one_family_out(ctx, Labels(*load_labels(ctx.folder.label), blocks=ctx.backbone_info.get("blocks")))
    out = ctx.folder.root / f"lofo_{args.rounds}.parquet"
    io.write_parquet(per_family, out)
    # the columns that fit a terminal; the file has every family and the gaps
    summary = summarize_lofo(per_family)[["model", "kind", "mean_srcc", "worst_family", "worst_srcc", "backwards"]]
    t = Table("model", "kind", "mean SRCC", "worst family", "worst SRCC", "backwards",
              title=f"leave-one-family-out, {args.run} ({args.rounds})",
              caption="SRCC with severity order on the training pool, each family held out of training in turn; "
                      "backwards: families ranked backwards that the best no-reference teacher ranks forwards")
    for _, row in summary.iterrows():
        t.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.tolist()])
    _console().print(t)
    _console().print(f"per family: {out}")
    return 0


def cmd_select_backbones(args) -> int:
    from rich.table import Table

    from w2s.select_backbones import select_backbones

    table = select_backbones(args.run, args.candidates, args.max_size)
    t = Table("backbones", "features", "within", "across", "mean", "embed s", "keep",
              title=f"backbone selection, {args.run}",
              caption="out-of-fold round-0 reliability, no MOS: within = known-order distortion pairs, across = "
                      "full-reference and teacher consensus across contents; keep = best mean of the two")
    for _, row in table.iterrows():
        t.add_row(", ".join(row.backbones), str(row.dim), f"{row.within:.3f}", f"{row.across:.3f}", f"{row['mean']:.3f}",
                  "-" if not math.isfinite(row.embed_seconds) else f"{row.embed_seconds:.0f}", "yes" if row.keep else "")
    _console().print(t)
    best = table.iloc[0].backbones
    _console().print(f"keep: student.backbone: {best[0] if len(best) == 1 else '[' + ', '.join(best) + ']'}")
    return 0


def cmd_samples(args) -> int:
    from w2s.media.samples import build_samples

    paths = build_samples(args.out, split=args.split, seed=args.seed)
    _console().print(f"{len(paths)} clips in {args.out}")
    return 0


def cmd_score(args) -> int:
    from w2s.score import score_paths

    df = score_paths(args.model, args.inputs)
    from w2s import io

    io.write_text(df.to_csv(index=False), args.out)  # atomic: a killed run leaves no half a table
    failed = (df.status != "ok").sum()
    code = _show_failures(df[df.status != "ok"], "path", "error", args.out)
    _console().print(f"scored {len(df) - failed} file(s), {failed} failed -> {args.out}")
    return code


def _options(pairs: list[str]) -> dict:
    """``--option KEY=VALUE`` pairs (YAML values: numbers, booleans and lists parse)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise W2SError(f"--option {pair!r}: expected KEY=VALUE, e.g. mos_column=MOS")
        out[key] = yaml.safe_load(value)
    return out


def _metrics_table(rows: list[dict], title: str):
    from rich.table import Table

    t = Table("model", "set", "SRCC [95% CI]", "KRCC", "PLCC", "RMSE", "n", "left out", title=title)
    for m in rows:
        t.add_row(m["model"], m["dataset"], f"{m['srcc']:.3f} [{m['srcc_lo']:.3f}, {m['srcc_hi']:.3f}]",
                  f"{m['krcc']:.3f}", f"{m['plcc']:.3f}", f"{m['rmse']:.3f}", str(m["n"]), str(m["n_left_out"]))
    return t


def cmd_evaluate(args) -> int:
    from w2s.labelled import load_labelled_set
    from w2s.study.evaluate import evaluate_model

    labelled = load_labelled_set(args.dataset, args.root, **_options(args.option))
    metrics = evaluate_model(args.model, labelled, Path(args.out), n_boot=args.bootstrap)
    failures = Path(args.out) / "failures.parquet"
    import pandas as pd

    code = _show_failures(pd.read_parquet(failures), "path", "reason", failures)
    _console().print(_metrics_table([metrics], f"{args.model} against {labelled.score_name}"))
    _console().print(f"per-video scores, failures and metrics: {args.out}")
    return code


def cmd_study(args) -> int:
    from w2s.labelled import load_labelled_set
    from w2s.study.study import parse_dataset, study

    options = _options(args.option)
    sets = []
    for text in args.dataset:
        name, spec, root = parse_dataset(text)
        mine = {k.split(".", 1)[1]: v for k, v in options.items() if k.startswith(f"{name}.")}
        sets.append((name, load_labelled_set(spec, root, **mine)))
    stray = sorted({k.split(".", 1)[0] for k in options} - {parse_dataset(t)[0] for t in args.dataset})
    if stray:
        raise W2SError(f"--option names set(s) {', '.join(stray)}, which no --dataset defines (use NAME.KEY=VALUE)")
    if args.vmaf_proxy:
        from w2s.study.proxy import vmaf_proxy_set

        sets.append(("vmaf-proxy", vmaf_proxy_set(args.run)))
    if not sets:
        raise W2SError("w2s study: name at least one --dataset NAME=SPEC:ROOT (or --vmaf-proxy)")
    report = study(args.run, sets, n_boot=args.bootstrap)
    _console().print(f"report: {report}")
    return 0


def cmd_calibrate(args) -> int:
    from rich.table import Table

    from w2s.labelled import load_labelled_set
    from w2s.study.calibrate import calibrate

    labelled = load_labelled_set(args.dataset, args.root, **_options(args.option))
    summary = calibrate(args.student, labelled, Path(args.out), fraction=args.fraction, splits=args.splits, seed=args.seed)
    t = Table("model", "SRCC median", "SRCC IQR", "PLCC median", "PLCC IQR",
              title=f"{labelled.name}: {args.fraction:.0%} of the {labelled.score_name} for training, "
                    f"the rest for testing, over {args.splits} splits")
    for model, m in summary["models"].items():
        t.add_row(model, f"{m['srcc_median']:.3f}", f"{m['srcc_q25']:.3f}-{m['srcc_q75']:.3f}",
                  f"{m['plcc_median']:.3f}", f"{m['plcc_q25']:.3f}-{m['plcc_q75']:.3f}")
    _console().print(t)
    _console().print(f"calibrated student (split 0's share): {Path(args.out) / 'student'}")
    return 0


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
    _console().print(t)
    return 0


def _teachers_of_run(run: Path):
    """Each teacher's reliability and ensemble weight in the last round a run has written."""
    from rich.table import Table

    from w2s.io import read_json
    from w2s.run_folder import RunFolder

    folder = RunFolder(run)
    if not folder.config.is_file():
        raise W2SError(f"{run} is not a run folder (no config.yaml in it)")
    rounds = folder.rounds_written()
    if not rounds:
        raise W2SError(f"{run}: no round has written teachers.json yet")
    info = read_json(folder.round(rounds[-1]).teachers)
    t = Table("teacher", "within content", "across contents", "weight within", "weight across",
              title=f"round {rounds[-1]} of {run}",
              caption="reliability without MOS: within content, accuracy on the pool's known-order distortion pairs; "
                      "across contents, agreement with the full-reference consensus on variants of different contents "
                      "and with the other teachers' consensus on clean clips (w2s/reliability.py)")
    fmt = lambda v: "-" if v is None or v != v else f"{v:.3f}"
    for col, rel in info["reliability"].items():
        t.add_row(col.removeprefix("score:"), fmt(rel), fmt(info.get("reliability_across", {}).get(col)),
                  fmt(info["weights"][col]), fmt(info.get("weights_across", {}).get(col)))
    return t


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="w2s", description="weak-to-strong video quality assessment without human scores")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run (or resume) the rounds of a config")
    r.add_argument("config", help="YAML run config, e.g. configs/quickstart.yaml")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. rounds=3")
    r.add_argument("--stop-after", default=None, help="stop after a stage: label, evalset, pairs:K or round:K")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("samples", help="write the embedded real-content sample pool")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--split", default="train", choices=["train", "eval"], help="train content, or held-out eval content")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_samples)

    c = sub.add_parser("score", help="score files or folders with a student or a teacher")
    c.add_argument("--model", required=True, help="a student folder or a teacher name (pyiqa:piqe)")
    c.add_argument("inputs", nargs="+", help="videos, images, folders, .csv or .jsonl lists")
    c.add_argument("--out", required=True, help="CSV to write")
    c.set_defaults(func=cmd_score)

    lo = sub.add_parser("lofo", help="leave-one-family-out on a run's training pool (generalisation to unseen families)")
    lo.add_argument("run", help="a run folder whose label stage is finished")
    lo.add_argument("--rounds", default="first", choices=["first", "all"], help="round 0 only, or every round")
    lo.set_defaults(func=cmd_lofo)

    sb = sub.add_parser("select-backbones", help="rank frozen backbones (and pairs of them) for a run's student, "
                        "without MOS, by their round-0 reliability out of fold")
    sb.add_argument("run", help="a run folder with a finished label stage and round 0's pairs")
    sb.add_argument("--candidates", nargs="+", required=True, metavar="BACKBONE",
                    help="backbone specs, e.g. efficientnet_lite0 efficientnet_lite2 timm:resnet18")
    sb.add_argument("--max-size", type=int, default=2, help="largest combination tried (default 2)")
    sb.set_defaults(func=cmd_select_backbones)

    e = sub.add_parser("evaluate", help="score a labelled set (MOS) with a student or a teacher and measure it")
    e.add_argument("--model", required=True, help="a student folder or a teacher name (pyiqa:piqe)")
    e.add_argument("--dataset", required=True, help="a preset (konvid1k, live-vqc, ...) or a label file (CSV/TSV/JSON/JSONL/labels.txt)")
    e.add_argument("--root", required=True, help="the folder that holds the set's videos (and its label file, for a preset)")
    e.add_argument("--out", required=True, help="output folder: scores.parquet, failures.parquet, metrics.json")
    e.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="label-file option, e.g. mos_column=MOS, path_column=name, lower_better=true")
    e.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    e.set_defaults(func=cmd_evaluate)

    st = sub.add_parser("study", help="every teacher, the ensemble and every round's student of a run, on labelled sets")
    st.add_argument("run", help="a run folder")
    st.add_argument("--dataset", action="append", default=[], metavar="NAME=SPEC:ROOT",
                    help="a set to study, e.g. konvid=konvid1k:/data/KoNViD_1k (repeat for several)")
    st.add_argument("--vmaf-proxy", action="store_true",
                    help="add the run's held-out codec variants with VMAF as the score (a full-reference proxy, not MOS)")
    st.add_argument("--option", action="append", default=[], metavar="NAME.KEY=VALUE",
                    help="a label-file option for one set, e.g. mine.mos_column=MOS (a generic CSV needs its columns)")
    st.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    st.set_defaults(func=cmd_study)

    ca = sub.add_parser("calibrate", help="few-shot: refit a student's branch on a share of a set's MOS, test on the rest")
    ca.add_argument("student", help="a saved student folder (runs/NAME/round_XX/student)")
    ca.add_argument("--dataset", required=True, help="a preset or a label file, as for evaluate")
    ca.add_argument("--root", required=True, help="the folder that holds the set's videos")
    ca.add_argument("--out", required=True, help="output folder: splits, summary and the calibrated student/")
    ca.add_argument("--fraction", type=float, default=0.2, help="share of the videos whose MOS trains (default 0.2)")
    ca.add_argument("--splits", type=int, default=10, help="random splits (default 10)")
    ca.add_argument("--seed", type=int, default=0)
    ca.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="label-file option, as for evaluate")
    ca.set_defaults(func=cmd_calibrate)

    ls = sub.add_parser("list", help="list teachers, distortions, backbones or labelled-set presets")
    ls.add_argument("what", choices=["teachers", "distortions", "backbones", "datasets"])
    ls.add_argument("--run", default=None, help="with teachers: a run folder, to show each teacher's reliability")
    ls.set_defaults(func=cmd_list)
    return p


# the packages whose log lines a user sees without -v; every other logger is a third party's
OWN_LOGGERS = ("w2s", "students", "teachers", "distortions")


def _own_records(record: logging.LogRecord) -> bool:
    return record.name.split(".")[0] in OWN_LOGGERS


def _interrupted(args) -> str:
    """What Ctrl-C leaves behind, and how to go on, for the command that was running."""
    if args.command == "run":
        return "rerun the same command to resume (finished stages and labelled videos are kept)"
    if args.command in ("evaluate", "calibrate"):
        return f"rerun the same command to resume (the videos already done are kept in {args.out})"
    if args.command == "score":
        return f"nothing was written to {args.out}; rerun the same command to score again"
    return "rerun the same command"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    installed = not logging.getLogger().handlers  # else a host (pytest, a notebook) owns the logging
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # third-party INFO lines ("Network [PIQE] is created") are not the user's business unless -v
    for noisy in ("httpx", "urllib3", "timm", "accelerate", "pyiqa"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if installed and not args.verbose:
        # nor any other library's log lines or Python warnings (routed to logging, then dropped)
        logging.captureWarnings(True)
        for handler in logging.getLogger().handlers:
            handler.addFilter(_own_records)
    try:
        return args.func(args)
    except W2SError as e:
        sys.stderr.write(f"w2s: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"w2s: interrupted; {_interrupted(args)}\n")
        return 130
    except Exception as e:  # a bug: one line, and the traceback only when asked for
        if args.verbose:
            raise
        text = " ".join(str(e).split())[:300]
        sys.stderr.write(f"w2s: internal error ({type(e).__name__}: {text}); rerun with -v for the traceback, "
                         "and please report it\n")
        return 3


if __name__ == "__main__":
    sys.exit(main())
