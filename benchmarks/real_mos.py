"""Human opinion as the judge: a run's teachers, ensemble and students against a folder's MOS.

    python benchmarks/real_mos.py ../shared/data/livec-dev                  # the dev set, when it is there
    python benchmarks/real_mos.py DIR --labels labels.csv --path-column file --mos-column mos \\
        [--run runs/quickstart] [--config configs/quickstart.yaml] [--set KEY=VALUE ...] [--skip-own]

Prints the study table (SRCC with a 95% bootstrap interval, PLCC, n) and the paired-bootstrap gain
of the last student over the best teacher and over the ensemble, for

(a) a finished run (``--run``, default ``runs/quickstart``): trained on its own pool, never on
    this folder;
(b) a run whose pool is this folder's own media (``--config``, default the quickstart's, with
    ``pool.source`` set to the folder, no held-out set and no leave-one-family-out): the run scans
    the folder for images and videos and never reads the label file. The MOS are read here, after
    the run, by the study alone.

This is how settings are chosen: on a development set, never on a held-out one, and never by
anything inside ``w2s run``. Each part's study is written to ``RUN/study_NAME/`` (its report.md,
the per-video scores, plots); a rerun resumes what is cached.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import pandas as pd

from w2s.config import load_config
from w2s.labelled import load_labelled_set
from w2s.run.loop import run
from w2s.study.study import study

log = logging.getLogger("real_mos")


def labelled_set(folder: Path, args):
    options = {"name": args.name}
    if args.path_column:
        options["path_column"] = args.path_column
    if args.mos_column:
        options["mos_column"] = args.mos_column
    return load_labelled_set(str(folder / args.labels), folder, **options)


def own_pool_run(folder: Path, args) -> Path:
    """A run whose pool is ``folder``'s media (the label file is never handed to it)."""
    overrides = [f"name={args.own_name}", f"pool.source={folder}", "eval.source=none", "eval.lofo=none", *args.set]
    config = load_config(args.config, overrides)
    if Path(config.pool.source).resolve() == (folder / args.labels).resolve():
        raise SystemExit("the run's pool must be the media folder, never the label file")
    start = time.perf_counter()
    run_dir = run(config)
    log.info("run %s: %.0f s", run_dir, time.perf_counter() - start)
    return run_dir


def table(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    summary = pd.read_parquet(out / "summary.parquet")
    gains = pd.read_parquet(out / "gains.parquet")
    rows = pd.DataFrame({
        "model": summary.model,
        "SRCC [95% CI]": [f"{r.srcc:.3f} [{r.srcc_lo:.3f}, {r.srcc_hi:.3f}]" for r in summary.itertuples()],
        "PLCC": summary.plcc.map(lambda v: f"{v:.3f}"),
        "n": summary.n,
    })
    srcc = gains[gains.metric == "srcc"]
    gain_rows = pd.DataFrame({
        "student": srcc.student,
        "against": [f"{r.against} ({r.role})" for r in srcc.itertuples()],
        "SRCC gain [95% CI]": [f"{r.gain:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}]" for r in srcc.itertuples()],
    })
    return rows, gain_rows


def show(title: str, out: Path) -> None:
    rows, gains = table(out)
    sys.stdout.write(f"\n{title}\n{rows.to_string(index=False)}\n\n{gains.to_string(index=False)}\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="a folder of images or videos with a label file")
    p.add_argument("--labels", default="labels.csv", help="the label file, relative to the folder")
    p.add_argument("--path-column", default="file")
    p.add_argument("--mos-column", default="mos")
    p.add_argument("--name", default="livec-dev", help="the set's name in the tables")
    p.add_argument("--run", type=Path, default=Path("runs/quickstart"), help="(a): a finished run")
    p.add_argument("--config", default="configs/quickstart.yaml", help="(b): the recipe of the run on the folder")
    p.add_argument("--own-name", default="real_mos_pool", help="(b): the run's name")
    p.add_argument("--set", action="append", default=[], help="(b): a config override, KEY=VALUE")
    p.add_argument("--skip-own", action="store_true", help="only (a)")
    p.add_argument("--n-boot", type=int, default=1000)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    folder = args.folder.resolve()
    labelled = labelled_set(folder, args)
    if args.run.is_dir():
        out = args.run / f"study_{args.name}"
        study(args.run, [(args.name, labelled)], n_boot=args.n_boot, out=out)
        show(f"(a) {args.run} (trained on its own pool) on {args.name}", out)
    else:
        log.warning("(a) skipped: no run at %s (make demo makes runs/quickstart)", args.run)
    if not args.skip_own:
        run_dir = own_pool_run(folder, args)
        out = run_dir / f"study_{args.name}"
        study(run_dir, [(args.name, labelled)], n_boot=args.n_boot, out=out)
        show(f"(b) {run_dir}: its pool is {folder}'s media (MOS never read by the run) on {args.name}", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
