"""``w2s study``: every model of a run against human opinion scores, on every labelled set.

For each set, each configured no-reference teacher, the weak ensemble and each
round's student are scored once (per-video scores cached under
``RUN/study/SET/MODEL/``, so a rerun or a killed study resumes), and measured
with bootstrap CIs. The report (``RUN/study/report.md``) has a table per set,
the mean over sets, the weak-to-strong gain of the last student over the best
single teacher and over the ensemble with a paired-bootstrap CI, SRCC per round
(``srcc_per_round.png``) and the last student's scores against MOS
(``scatter_SET.png``).

Full-reference teachers need the clean original of each video, which a
human-rated set of distorted videos does not give them: they are left out.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from students.prior import TeacherPrior
from w2s.core import io
from w2s.core.errors import W2SError
from w2s.core.names import score_column
from w2s.labelled.set import LabelledSet
from w2s.study.bootstrap import metrics_with_ci, paired_gain_ci
from w2s.study.model_eval import evaluate_model

log = logging.getLogger(__name__)

ENSEMBLE = "ensemble"


@dataclass
class Model:
    name: str  # as tables show it: pyiqa:piqe, ensemble, student r2
    kind: str  # teacher | ensemble | student
    spec: str = ""  # what evaluate_model takes: a teacher name or a student folder
    round: int | None = None


def parse_dataset(text: str) -> tuple[str, str, str]:
    """``NAME=SPEC:ROOT`` (SPEC a preset or a label file) -> (name, spec, root)."""
    name, sep, rest = text.partition("=")
    spec, colon, root = rest.rpartition(":")
    if not sep or not colon or not name or not spec or not root:
        raise W2SError(f"--dataset {text!r}: expected NAME=SPEC:ROOT, e.g. konvid=konvid1k:/data/KoNViD_1k")
    if not re.fullmatch(r"[\w.-]+", name):
        raise W2SError(f"--dataset {text!r}: the name {name!r} names a folder; use letters, digits, '.', '-' or '_'")
    return name, spec, root


def slug(name: str) -> str:
    """A model's name as a folder name."""
    return re.sub(r"[^\w.-]+", "_", name).strip("_")


def run_models(ctx) -> tuple[list[Model], TeacherPrior]:
    """The run's no-reference teachers and students, and the weak ensemble as a fixed model: round 0's
    weights across contents, each teacher standardised by its training-pool statistics (so a set's
    ensemble score of a video does not depend on which other videos the set holds)."""
    from teachers import teacher_class

    config, folder = ctx.config, ctx.folder
    teachers = [Model(n, "teacher", n) for n in config.teacher_names() if not teacher_class(n).full_reference]
    left_out = [n for n in config.teacher_names() if teacher_class(n).full_reference]
    if left_out:
        log.info("full-reference teachers need each video's clean original; left out: %s", ", ".join(left_out))
    students = [Model(f"student r{k}", "student", str(folder.round(k).student), k)
                for k in folder.rounds_written() if (folder.round(k).student / "config.json").is_file()]
    if not students:
        raise W2SError(f"{folder.root} has no trained student yet (round_XX/student/); finish `w2s run` first")
    info = io.read_json(folder.round(0).teachers) if folder.round(0).teachers.is_file() else {}
    across = info.get("weights_across", {})
    pool = pd.read_parquet(folder.items("label"))
    ensemble = TeacherPrior.fit({t.name: pool[score_column(t.name)].to_numpy() for t in teachers},
                                {t.name: float(across.get(score_column(t.name), 1.0)) for t in teachers})
    return teachers + students, ensemble


class SharedEmbedding:
    """A run's students share their frozen perception and their prior: each video is embedded (and its
    prior teachers run) once, and every round's head scores the cached features. Without it a study
    of R rounds runs the backbone R times per video. The cache is per set, so memory grows with the
    set's size (about 16 KB a video for the quickstart's 4,140 features), not with the rounds."""

    def __init__(self, device: str = "cpu"):
        self.device = device  # where the students embed (and their prior's teachers run)
        self.perception = {}  # (backbone, options, extras) -> the first student's built backbone
        self.cache = {}  # (perception key, prior, source file) -> (features, base + prior)

    def scorer(self, student_dir: str):
        import json

        import torch

        from students.student import Student
        from teachers import make_teacher

        student = Student.from_pretrained(student_dir, make_teacher=make_teacher)
        student.place(self.device)
        perception_key = json.dumps([student.backbone_name, student.backbone_options, student.extras], sort_keys=True)
        if perception_key in self.perception:
            student.share_backbone(self.perception[perception_key])  # same weights: the frozen part is shared
        else:
            self.perception[perception_key] = student.backbone
        prior_key = json.dumps(student.prior.to_dict() if student.prior else None, sort_keys=True)
        shared = self

        class _Scorer:
            def score(self, clip) -> float:
                key = (perception_key, prior_key, clip.meta.get("source", clip.id))
                if key not in shared.cache:
                    shared.cache[key] = student.embed(clip)
                features, base = shared.cache[key]
                return float(student.score_features(features[None], torch.tensor([base]))[0])

        return _Scorer()


def study(run: str | Path, datasets: list[tuple[str, LabelledSet]], n_boot: int = 1000, seed: int = 0,
          out: str | Path | None = None, device: str = "auto") -> Path:
    """Score and measure every model of ``run`` on every set; write the tables, plots and report to
    ``out`` (default ``RUN/study``). Every model scores on ``device`` (:func:`w2s.core.device.resolve_device`)."""
    from w2s.core.device import resolve_device
    from w2s.run.context import open_run

    device = str(resolve_device(device))

    run = Path(run)
    ctx = open_run(run)
    config = ctx.config
    models, ensemble = run_models(ctx)
    out = Path(out) if out else ctx.folder.study
    rows, per_video = [], {}
    for name, labelled in datasets:
        shared = SharedEmbedding(device)
        scores = {}
        for model in models:
            # teachers see frames as the run's label stage gave them; a student reads its own saved sampling
            options = {} if model.kind == "student" else {"sampler_spec": config.pool.sampler,
                                                         "max_side": config.pool.max_side}
            folder = out / name / slug(model.name)
            if model.kind == "student":
                options["scorer"] = shared.scorer(model.spec)
            evaluate_model(model.spec, labelled, folder, n_boot=n_boot, seed=seed, device=device, **options)
            scores[model.name] = pd.read_parquet(folder / "scores.parquet")
        table = _joined(scores)
        teacher_names = [m.name for m in models if m.kind == "teacher"]
        table[ENSEMBLE] = ensemble.of_scores({t: table[t].to_numpy() for t in teacher_names})
        table.loc[table[teacher_names].isna().all(axis=1), ENSEMBLE] = np.nan  # no teacher scored it
        ordered = [*models[: len(teacher_names)], Model(ENSEMBLE, "ensemble"), *models[len(teacher_names):]]
        table["compared"] = compared_videos(table, [m.name for m in ordered], name)
        io.write_parquet(table, out / name / "scores.parquet")
        per_video[name] = table[table.compared].reset_index(drop=True)  # gains and plots: the same videos
        dropped = int((~table.compared).sum())
        for model in ordered:
            m = metrics_with_ci(per_video[name][model.name], per_video[name].target, n_boot=n_boot, seed=seed)
            rows.append({"dataset": name, "model": model.name, "kind": model.kind, "round": model.round, **m,
                         "dropped": dropped, "left_out": len(labelled.failures) + dropped})
    summary = pd.DataFrame(rows)
    io.write_parquet(summary, out / "summary.parquet")
    gains = _gains(summary, per_video, n_boot, seed)
    io.write_parquet(gains, out / "gains.parquet")
    plots = _plots(summary, per_video, dict(datasets), out)
    report = out / "report.md"
    io.write_text(_report(run, summary, gains, plots, dict(datasets)), report)
    return report


def compared_videos(table: pd.DataFrame, names: list[str], set_name: str) -> pd.Series:
    """Which videos every model scored: all of them are measured on these, so a model that fails on
    the hard videos is not ranked on an easier set than the others. The rest are dropped, and the log
    says how many. A model that scored no video at all is no part of the rule (it would empty the
    comparison); its row is empty."""
    scored = table[names].notna()
    counted = [n for n in names if scored[n].any()]
    compared = scored[counted].all(axis=1) if counted else pd.Series(False, index=table.index)
    if (~compared).any():
        log.warning("%s: %d of %d videos dropped: not every model could score them (reasons in each model's "
                    "failures.parquet); every model is measured on the other %d", set_name, int((~compared).sum()),
                    len(table), int(compared.sum()))
    return compared


def _joined(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per video of the set: id, path, mos, target, and one score column per model."""
    first = next(iter(scores.values()))
    table = first[["id", "path", "mos", "target"]].copy()
    for name, df in scores.items():
        table[name] = df.score.to_numpy()  # every model's table follows the set's own row order
    return table


def _gains(summary: pd.DataFrame, per_video: dict, n_boot: int, seed: int) -> pd.DataFrame:
    """The last student minus the best single teacher and minus the ensemble, on videos both scored."""
    rows = []
    for name, table in per_video.items():
        s = summary[summary.dataset == name]
        students = s[s.kind == "student"].sort_values("round")
        teachers = s[s.kind == "teacher"]
        if students.empty:
            continue
        last = students.model.iloc[-1]
        against = [(ENSEMBLE, "ensemble")]
        if not teachers.empty:
            against.insert(0, (teachers.sort_values("srcc", ascending=False).model.iloc[0], "best teacher"))
        for other, role in against:
            for metric in ("srcc", "plcc"):
                gain, lo, hi = paired_gain_ci(table[last], table[other], table.target, metric=metric,
                                              n_boot=n_boot, seed=seed)
                rows.append({"dataset": name, "student": last, "against": other, "role": role, "metric": metric,
                             "gain": gain, "lo": lo, "hi": hi})
    return pd.DataFrame(rows, columns=["dataset", "student", "against", "role", "metric", "gain", "lo", "hi"])


def _plots(summary: pd.DataFrame, per_video: dict, sets: dict[str, LabelledSet], out: Path) -> list[Path]:
    from w2s.study.plots import plot_scatter, plot_srcc_per_round

    students = summary[summary.kind == "student"]
    refs = []
    for name, s in summary.groupby("dataset"):
        teachers = s[s.kind == "teacher"].sort_values("srcc", ascending=False)
        if not teachers.empty:
            refs.append({"dataset": name, "model": f"best teacher ({teachers.model.iloc[0]})", "srcc": teachers.srcc.iloc[0]})
        refs.append({"dataset": name, "model": ENSEMBLE, "srcc": s[s.model == ENSEMBLE].srcc.iloc[0]})
    names = sorted({labelled.score_name for labelled in sets.values()})
    against = "MOS" if names == ["MOS"] else " / ".join(names)
    paths = [plot_srcc_per_round(students[["dataset", "round", "srcc", "srcc_lo", "srcc_hi"]].astype({"round": int}),
                                 out / "srcc_per_round.png", refs=pd.DataFrame(refs),
                                 title="Each round's student on the study's sets", ylabel=f"SRCC against {against}")]
    for name, table in per_video.items():
        last = students[students.dataset == name].sort_values("round").model.iloc[-1]
        labelled = sets[name]
        paths.append(plot_scatter(table[last], table.mos, out / f"scatter_{name}.png", title=f"{last} on {name}",
                                  lower_better=labelled.lower_better, mos_range=labelled.mos_range,
                                  mos_label=labelled.score_name))
    return paths


def _fmt_ci(row) -> str:
    return f"{row.srcc:.3f} [{row.srcc_lo:.3f}, {row.srcc_hi:.3f}]"


def _report(run: Path, summary: pd.DataFrame, gains: pd.DataFrame, plots: list[Path], sets: dict) -> str:
    intro = ("SRCC with 95% bootstrap CI (videos resampled), KRCC, and PLCC / RMSE after the 4-parameter "
             "logistic fit; n: videos scored, the same videos for every model (those every model could "
             "score); dropped: videos some model could not score; left out: those and the label rows that "
             "could not be used (reasons in `study/SET/MODEL/failures.parquet`). Full-reference teachers "
             "are left out: a human-rated set gives no clean original to compare with.")
    lines = [f"# Study: {run.name} against human-rated sets", "", intro, ""]
    for name, s in summary.groupby("dataset", sort=False):
        labelled = sets[name]
        about = [labelled.name] if labelled.name != name else []
        about += [f"{len(labelled)} videos", f"{len(labelled.failures)} label rows left out",
                  f"{s.dropped.iloc[0]} dropped (not scored by every model)", f"scores: {labelled.score_name}"]
        lines += [f"## {name} ({', '.join(about)})", ""]
        if labelled.score_name == "VMAF proxy":
            lines += [("VMAF of the run's held-out codec variants against their clean clips: a full-reference "
                       "proxy for quality, **not human opinion scores**. It ranks across contents as a MOS set "
                       "does, which is what it is here for."), ""]
        lines += ["| model | SRCC [95% CI] | KRCC | PLCC | RMSE | n | left out |", "|---|---|---|---|---|---|---|"]
        for r in s.itertuples():
            lines.append(f"| {r.model} | {_fmt_ci(r)} | {r.krcc:.3f} | {r.plcc:.3f} | {r.rmse:.3f} | {r.n} | {r.left_out} |")
        lines.append("")
    if summary.dataset.nunique() > 1:
        mean = summary.groupby("model", sort=False)[["srcc", "plcc"]].mean()
        lines += ["## Mean over sets", "", "| model | SRCC | PLCC |", "|---|---|---|"]
        lines += [f"| {m} | {r.srcc:.3f} | {r.plcc:.3f} |" for m, r in mean.iterrows()] + [""]
    if len(gains):
        lines += ["## Weak-to-strong gain", "",
                  ("The last student minus a reference on the same videos, with a 95% paired-bootstrap CI "
                   "(a CI above 0: the student is better on this set beyond resampling noise)."), "",
                  "| set | student | against | metric | gain [95% CI] |", "|---|---|---|---|---|"]
        lines += [f"| {g.dataset} | {g.student} | {g.against} ({g.role}) | {g.metric.upper()} | "
                  f"{g.gain:+.3f} [{g.lo:+.3f}, {g.hi:+.3f}] |" for g in gains.itertuples()] + [""]
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    return "\n".join(lines)
