"""The commands that run, score and measure: each is ``cmd_NAME(args) -> exit code``."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from w2s.cli.show import console, metrics_table, show_failures, show_table
from w2s.core.errors import W2SError


def cmd_run(args) -> int:
    from w2s.config import load_config
    from w2s.run.loop import run
    from w2s.run.train import default_accelerator

    config = load_config(args.config, args.set)
    accelerator = default_accelerator()
    if not accelerator.is_main_process:
        logging.getLogger().setLevel(logging.WARNING)  # one process tells the story
    run_dir = run(config, stop_after=args.stop_after, on_round=show_table, accelerator=accelerator,
                  reuse=args.reuse)
    if not accelerator.is_main_process:
        return 0
    if args.stop_after is None:  # the run wrote it last, held-out set or not (w2s.run.loop.finish)
        console().print(f"report: {run_dir / 'report.md'}")
    console().print(f"run folder: {run_dir}")
    failures = run_dir / "failures.parquet"
    if failures.exists():
        import pandas as pd

        return show_failures(pd.read_parquet(failures), "path", "error", failures)
    return 0


def cmd_lofo(args) -> int:
    """Leave-one-family-out on a finished run's training pool: the same rounds without each family."""
    import dataclasses

    from rich.table import Table

    from w2s.core import io
    from w2s.eval.lofo import summarize_lofo
    from w2s.run.context import open_run
    from w2s.run.loop import run_lofo
    from w2s.run.pool import training_pool

    ctx = open_run(args.run)
    ctx.config = dataclasses.replace(ctx.config, eval=dataclasses.replace(ctx.config.eval, lofo=args.rounds))
    per_family = run_lofo(ctx, training_pool(ctx))
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
    console().print(t)
    console().print(f"per family: {out}")
    return 0


def cmd_select_backbones(args) -> int:
    from rich.table import Table

    from w2s.eval.select_backbones import select_backbones

    table = select_backbones(args.run, args.candidates, args.max_size, device=args.device)
    t = Table("backbones", "features", "within", "across", "mean", "embed s", "keep",
              title=f"backbone selection, {args.run}",
              caption="out-of-fold round-0 reliability, no MOS: within = known-order distortion pairs, across = "
                      "full-reference and teacher consensus across contents; keep = best mean of the two")
    for _, row in table.iterrows():
        t.add_row(", ".join(row.backbones), str(row.dim), f"{row.within:.3f}", f"{row.across:.3f}", f"{row['mean']:.3f}",
                  "-" if not math.isfinite(row.embed_seconds) else f"{row.embed_seconds:.0f}", "yes" if row.keep else "")
    console().print(t)
    best = table.iloc[0].backbones
    console().print(f"keep: student.backbone: {best[0] if len(best) == 1 else '[' + ', '.join(best) + ']'}")
    return 0


def cmd_samples(args) -> int:
    from w2s.media.samples import build_samples

    paths = build_samples(args.out, split=args.split, seed=args.seed)
    console().print(f"{len(paths)} clips in {args.out}")
    return 0


def cmd_score(args) -> int:
    from w2s.api import prior_student
    from w2s.score import check_out, score_paths, write_scores

    out = check_out(args.out)  # before any work: a bad --out must not cost a night of scoring
    model = prior_student(args.model) if getattr(args, "prior", False) else args.model
    df = score_paths(model, args.inputs, device=args.device, column=args.column, out=out)
    write_scores(df, out)  # whole or not at all; the rows were saved as they came (OUT.partial.jsonl)
    failed = (df.status != "ok").sum()
    code = show_failures(df[df.status != "ok"], "path", "error", args.out)
    console().print(f"scored {len(df) - failed} file(s), {failed} failed -> {args.out}", markup=False, highlight=False)
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


def cmd_evaluate(args) -> int:
    from w2s.labelled import load_labelled_set
    from w2s.study.model_eval import evaluate_model

    labelled = load_labelled_set(args.dataset, args.root, **_options(args.option))
    metrics = evaluate_model(args.model, labelled, Path(args.out), n_boot=args.bootstrap, device=args.device)
    failures = Path(args.out) / "failures.parquet"
    import pandas as pd

    code = show_failures(pd.read_parquet(failures), "path", "reason", failures)
    console().print(metrics_table([metrics], f"{args.model} against {labelled.score_name}"))
    console().print(f"per-video scores, failures and metrics: {args.out}")
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
    report = study(args.run, sets, n_boot=args.bootstrap, device=args.device)
    console().print(f"report: {report}")
    return 0


def cmd_calibrate(args) -> int:
    from rich.table import Table

    from w2s.labelled import load_labelled_set
    from w2s.study.calibrate import calibrate

    labelled = load_labelled_set(args.dataset, args.root, **_options(args.option))
    summary = calibrate(args.student, labelled, Path(args.out), fraction=args.fraction, splits=args.splits, seed=args.seed,
                        device=args.device)
    t = Table("model", "SRCC median", "SRCC IQR", "PLCC median", "PLCC IQR",
              title=f"{labelled.name}: {args.fraction:.0%} of the {labelled.score_name} for training, "
                    f"the rest for testing, over {args.splits} splits")
    for model, m in summary["models"].items():
        t.add_row(model, f"{m['srcc_median']:.3f}", f"{m['srcc_q25']:.3f}-{m['srcc_q75']:.3f}",
                  f"{m['plcc_median']:.3f}", f"{m['plcc_q25']:.3f}-{m['plcc_q75']:.3f}")
    console().print(t)
    console().print(f"calibrated student (split 0's share): {Path(args.out) / 'student'}")
    return 0

