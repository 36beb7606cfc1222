"""The ``w2s`` command. Train: ``run`` (or resume) a config's rounds, ``samples`` (the embedded
pool). Use a model: ``score``. Measure without human scores: ``lofo``, ``select-backbones``.
Measure against human scores: ``evaluate``, ``study``, ``calibrate``. Look up: ``list``,
``config``. The commands are in :mod:`.commands` and :mod:`.listings`, what they print in :mod:`.show`.

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
import os
import sys

from w2s.cli.commands import (
    cmd_calibrate,
    cmd_evaluate,
    cmd_lofo,
    cmd_run,
    cmd_samples,
    cmd_score,
    cmd_select_backbones,
    cmd_study,
)
from w2s.cli.listings import cmd_config, cmd_list
from w2s.core.errors import W2SError

log = logging.getLogger("w2s")


def _device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", metavar="DEVICE",
                   help="where the model runs: auto (a GPU when torch sees one, else the CPU), cpu, cuda, cuda:N or mps")


# -v is taken before and after the command; SUPPRESS keeps a subcommand's absent -v from resetting
# one given before it (argparse copies a subparser's defaults over the main parser's)
VERBOSE = {"action": "store_true", "default": argparse.SUPPRESS,
           "help": "debug logging, third-party messages and tracebacks"}


def _version() -> str:
    """The installed package's version (a source tree that was never installed: w2s.__version__)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("w2s-vqa")
    except PackageNotFoundError:
        from w2s import __version__

        return __version__


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="w2s", description="weak-to-strong video quality assessment without human scores")
    p.add_argument("-v", "--verbose", **VERBOSE)
    p.add_argument("--version", action="version", version=f"w2s {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run (or resume) the rounds of a config")
    r.add_argument("config", help="YAML run config, e.g. configs/quickstart.yaml")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. rounds=3")
    r.add_argument("--stop-after", default=None, help="stop after a stage: label, evalset, pairs:K or round:K")
    r.add_argument("--reuse", default=None, metavar="RUN",
                   help="a run folder whose label stage made part of this one's: copy what it computed the same "
                        "way (teacher scores, variants, features), compute only what is new")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("samples", help="write the embedded real-content sample pool")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--split", default="train", choices=["train", "eval"], help="train content, or held-out eval content")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_samples)

    c = sub.add_parser("score", help="score files or folders with a student or a teacher")
    c.add_argument("--model", required=True, help="a student folder or a teacher name (pyiqa:piqe)")
    c.add_argument("inputs", nargs="+", help="videos, images, folders, .csv or .jsonl lists")
    c.add_argument("--column", default=None, metavar="NAME",
                   help="the column of .csv/.jsonl lists that holds the files (default: the one named path, file, "
                        "name, video, ...)")
    c.add_argument("--out", required=True,
                   help="the table to write: a .csv or .parquet file (rows are saved as they come in "
                        "OUT.partial.jsonl; a rerun with the same --out scores only what is not in it yet)")
    c.add_argument("--prior", action="store_true",
                   help="a run's standalone student (student.standalone): score with the prior student saved beside "
                        "it (round_XX/student_prior), which runs its teachers on every file")
    _device_option(c)
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
    _device_option(sb)
    sb.set_defaults(func=cmd_select_backbones)

    e = sub.add_parser("evaluate", help="score a labelled set (MOS) with a student or a teacher and measure it")
    e.add_argument("--model", required=True, help="a student folder or a teacher name (pyiqa:piqe)")
    e.add_argument("--dataset", required=True, help="a preset (konvid1k, live-vqc, ...) or a label file (CSV/TSV/JSON/JSONL/labels.txt)")
    e.add_argument("--root", required=True, help="the folder that holds the set's videos (and its label file, for a preset)")
    e.add_argument("--out", required=True, help="output folder: scores.parquet, failures.parquet, metrics.json")
    e.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="label-file option, e.g. mos_column=MOS, path_column=name, lower_better=true")
    e.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    _device_option(e)
    e.set_defaults(func=cmd_evaluate)

    st = sub.add_parser("study", help="every teacher, the ensemble and every round's student of a run, on labelled sets")
    st.add_argument("run", help="a run folder")
    st.add_argument("--dataset", action="append", default=[], metavar="NAME=SPEC:ROOT",
                    help="a set to study, e.g. konvid=konvid1k:/data/KoNViD_1k (repeat for several)")
    st.add_argument("--vmaf-proxy", action="store_true",
                    help="add the run's held-out codec variants with VMAF as the score (a full-reference proxy, not MOS)")
    st.add_argument("--option", action="append", default=[], metavar="NAME.KEY=VALUE",
                    help="a label-file option for one set, e.g. mine.mos_column=MOS (columns with usual names, e.g. file and mos, are found without one)")
    st.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    _device_option(st)
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
    _device_option(ca)
    ca.set_defaults(func=cmd_calibrate)

    ls = sub.add_parser("list", help="list teachers, distortions, backbones or labelled-set presets")
    ls.add_argument("what", choices=["teachers", "distortions", "backbones", "datasets"])
    ls.add_argument("--run", default=None, help="with teachers: a run folder, to show each teacher's reliability")
    ls.add_argument("--all", action="store_true",
                    help="with teachers: also every pyiqa metric whose weight files are not here, and what each lacks")
    ls.set_defaults(func=cmd_list)

    cf = sub.add_parser("config", help="every config key, its type, default and help")
    cf.add_argument("prefix", nargs="?", default=None, help="only the keys under it, e.g. pairs or student.comparative")
    cf.add_argument("--markdown", action="store_true", help="print a Markdown table instead")
    cf.set_defaults(func=cmd_config)
    for command in sub.choices.values():  # -v after the command too: `w2s score -v ...`
        command.add_argument("-v", "--verbose", **VERBOSE)
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
        from w2s.score import partial_path

        return f"the files scored so far are kept in {partial_path(args.out)}; rerun the same command to resume"
    return "rerun the same command"


def _quiet_hub_libraries() -> None:
    """transformers and huggingface_hub print through handlers of their own (past the filter on ours):
    their warnings (a line per hub retry) only with -v. Their import resets their loggers' level from
    these variables, so they are set too (a user's own setting wins)."""
    for name, variable in (("transformers", "TRANSFORMERS_VERBOSITY"), ("huggingface_hub", "HF_HUB_VERBOSITY")):
        if variable not in os.environ:
            os.environ[variable] = "error"
            logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.verbose = getattr(args, "verbose", False)  # absent unless given (VERBOSE)
    installed = not logging.getLogger().handlers  # else a host (pytest, a notebook) owns the logging
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # third-party INFO lines ("Network [PIQE] is created") are not the user's business unless -v
    for noisy in ("httpx", "urllib3", "timm", "accelerate", "pyiqa"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if not args.verbose:
        _quiet_hub_libraries()
    if installed and not args.verbose:
        # nor any other library's log lines or Python warnings (routed to logging, then dropped)
        logging.captureWarnings(True)
        for handler in logging.getLogger().handlers:
            handler.addFilter(_own_records)
    try:
        if getattr(args, "device", None) is not None:  # a device this machine lacks fails before any work
            from w2s.core.device import resolve_device

            args.device = str(resolve_device(args.device))
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
