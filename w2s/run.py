"""One weak-to-strong run: pool -> labels -> rounds of (pairs, student, out-of-fold scores, eval).

:func:`run` is the method and :func:`train_rounds` its loop; read them first (what each step
computes is in :mod:`w2s.round`). Each stage's output is a file of the
run folder (:class:`w2s.run_folder.RunFolder`), written atomically; a stage
whose file exists is read instead of computed (:func:`w2s.run_folder.cached`),
so a rerun of a finished or killed run skips what is complete and finishes the
rest, and raising ``rounds`` continues a finished run. Within one process the
values pass forward in memory.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import shutil
import subprocess
from collections.abc import Callable
from functools import cached_property
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from w2s import io
from w2s.config import RunConfig
from w2s.errors import ConfigError, W2SError
from w2s.hard_cases import out_of_fold_scores, round_seed
from w2s.label import LabelJob, label_pool, load_labels, variant_share
from w2s.pairs import (
    distortion_pairs,
)
from w2s.round import (
    Labels,
    Teachers,
    build_pairs,
    evaluate_round,
    load_head,
    results_table,
    score_labels,
    student_teacher_name,
    train_student,
)
from w2s.run_folder import RunFolder, cached
from w2s.train import default_accelerator

log = logging.getLogger(__name__)

# config keys that may change between a run and its rerun without invalidating its files
RESUMABLE_KEYS = {"rounds"}


def run(
    config: RunConfig,
    stop_after: str | None = None,
    on_round: Callable[[int, pd.DataFrame], None] | None = None,
    accelerator=None,
) -> Path:
    """Run (or resume) every stage; ``stop_after`` is ``label``, ``evalset``, ``pairs:K`` or ``round:K``."""
    ctx = Context(config, accelerator or default_accelerator())
    ctx.start()
    families = {**config.distortions, **config.teacher_only}
    pool = ctx.label("label", config.pool.source, config.pool.limit, families, shares=True)
    if stop_after == "label":
        return ctx.folder.root
    evalset = None
    if config.eval.source != "none":
        families = {**(config.eval.in_distribution or config.distortions), **config.eval.ood}
        evalset = ctx.label("evalset", config.eval.source, config.eval.limit, families, vmaf=config.eval.vmaf)
    ctx.write_failures()
    if stop_after == "evalset":
        return ctx.folder.root
    if train_rounds(ctx, pool, evalset, on_round, stop_after) and config.eval.lofo != "none":
        # every process takes part: the held-out rounds train their heads together
        ctx.cached(ctx.folder.lofo, lambda: leave_one_family_out(ctx, pool), io.write_parquet, pd.read_parquet)
    ctx.barrier()
    return ctx.folder.root


def train_rounds(ctx: Context, pool: Labels, evalset: Labels | None = None, on_round=None,
                 stop_after: str | None = None) -> list | None:
    """The rounds: pairs, student, out-of-fold scores (how it teaches the next round), evaluation.
    Returns every round's head, or None when ``stop_after`` stopped it first."""
    config = ctx.config
    pool = pool.restrict({*config.distortions, *config.teacher_only})  # a label stage may hold more
    dist = distortion_pairs(pool.restrict(set(config.distortions)).items, config.pairs.gap1_p, config.pairs.gap2_p)
    students, oof, pairs, weak = [], [], None, None  # heads, out-of-fold scores, last pairs, round-0 teachers
    for k in range(config.rounds):
        files = ctx.folder.round(k)
        if k > 0:  # the previous student as a teacher: its out-of-fold scores of the pool
            oof.append(ctx.cached(ctx.folder.round(k - 1).oof, lambda: out_of_fold_scores(
                pool, pairs, config, round_seed(config, k), ctx.accelerator), pool.write_scores, pool.read_scores))
        teachers = Teachers.of_round(pool, oof, dist, config)
        if k == 0:  # round 0's teachers: the weak ensemble every round is compared with, and the prior
            weak = teachers
            pool = pool.with_prior(teachers.prior(config))
        ctx.cached(files.teachers, lambda: teachers.summary(), io.write_json, io.read_json, main_only=True)
        ctx.cached(files.scores, lambda: teachers.scores.drop(columns=["params"]), io.write_parquet, pd.read_parquet, main_only=True)
        previous = pairs
        pairs = ctx.cached(files.pairs, lambda: build_pairs(pool, teachers, dist, previous, config, k),
                           io.write_parquet, pd.read_parquet)
        log.info("round %d: %d pairs (%s)", k, len(pairs), pairs.source.value_counts().to_dict())
        if stop_after == f"pairs:{k}":
            return None
        students.append(ctx.cached(files.student, lambda: train_student(pool, pairs, config, k, ctx.accelerator,
                                                                        checkpoint=files.train_state),
                                   lambda head, path: ctx.save_student(head, pool, k, path), load_head))
        comparative = {}  # the comparative student's held-out scores, a row of the metrics
        if config.student.kind == "comparative":  # beside the head, in round_XX/comparative/
            ctx.cached(files.comparative, lambda: ctx.train_comparative(pool, pairs, teachers, k),
                       lambda student, path: student.save_pretrained(path), lambda path: path)
            if evalset is not None:
                comparative[f"comparative r{k}"] = ctx.cached(
                    files.eval / "comparative_scores.parquet", lambda: ctx.score_comparative(evalset, files.comparative),
                    evalset.write_scores, evalset.read_scores)
        if evalset is not None:
            results = ctx.cached(files.metrics, lambda: evaluate_round(evalset, students, teachers, weak, config, files.eval,
                                                                       comparative),
                                 io.write_json, io.read_json, main_only=True)
            if on_round and ctx.main:
                on_round(k, results_table(results, teachers))
        if ctx.main:
            ctx.write_card(k, results if evalset is not None else None)
            io.mark_done(files.root)
        if stop_after == f"round:{k}":
            return None
    return students


# ----------------------------------------------------------------------------- the run's context


class Context:
    """The config, the run folder and the processes of one run, and what the stages share."""

    def __init__(self, config: RunConfig, accelerator):
        self.config = config
        self.folder = RunFolder(config.run_dir)
        self.accelerator = accelerator
        # several processes (accelerate launch) share the labelling and the training; the main
        # process alone writes shared files, and the others wait at each barrier
        self.main = accelerator.is_main_process
        self.barrier = accelerator.wait_for_everyone
        self.backbone_info: dict = {}  # name, dim, parameters of the frozen backbone (label/backbone.json)

    def cached(self, path: Path, compute, save, load, main_only: bool = False):
        return cached(path, compute, save, load, self.main, self.barrier, main_only)

    def start(self) -> None:
        config = self.config
        check_names(config)
        log.info("run %s: %d process(es), device %s", config.name, self.accelerator.num_processes, self.accelerator.device)
        if self.main:
            self.folder.root.mkdir(parents=True, exist_ok=True)
            write_run_config(config, self.folder.config)
        self.barrier()
        # the models are built before the pool is scanned when any labelling is left, so a missing
        # weight file or a bad option fails in seconds, not after a scan of thousands of videos
        labelling_left = not io.is_done(self.folder.label) or (
            config.eval.source != "none" and not io.is_done(self.folder.evalset)
        )
        if labelling_left:
            self.models  # noqa: B018 - built now, for the reason above

    @cached_property
    def models(self) -> tuple[object, dict]:
        """The frozen backbone and the pixel teachers, on the accelerator's device."""
        from students.student import build_perception
        from teachers import make_teacher

        device = str(self.accelerator.device)
        student = self.config.student
        backbone_options = dict(student.backbone_options)
        from students import backbone_class

        if backbone_class(student.backbone)[0].takes_device:
            backbone_options.setdefault("device", device)  # loaded straight onto it (a VLM)
        backbone = build_perception(student.backbone, backbone_options, student.extras()).to(device)
        teachers = {name: make_teacher(name, **teacher_options(name, options, device))
                    for name, options in self.config.teacher_specs()}
        return backbone, teachers

    def scan(self, split: str, source: str, limit: int) -> pd.DataFrame:
        """The pool's manifest: every file found, readable or not (unreadable ones are recorded, skipped)."""
        return self.cached(self.folder.manifest(split), lambda: make_manifest(self.resolve_pool(source), limit),
                           io.write_parquet, pd.read_parquet, main_only=True)

    def resolve_pool(self, source: str) -> Path:
        """A pool path; ``samples:SPLIT`` builds the embedded real-content pool in the run folder."""
        if source.startswith("samples:"):
            from w2s.media.samples import build_samples

            out = self.folder.samples(source.partition(":")[2])
            build_samples(out, split=source.partition(":")[2], seed=self.config.seed)
            return out
        path = Path(source)
        if not path.exists():
            raise W2SError(f"pool source not found: {source} (a folder, .csv or .jsonl of videos, or samples:train)")
        return path

    def label(self, split: str, source: str, limit: int, families: dict, shares: bool = False,
              vmaf: bool = False) -> Labels:
        """Decode each video of a pool once: its variants, teacher scores and frozen features."""
        folder = getattr(self.folder, split)
        if not io.is_done(folder):
            manifest = self.scan(split, source, limit)
            if not (manifest.status == "ok").any():
                raise W2SError(f"no readable video in the pool {source}; see {self.folder.manifest(split)}")
            backbone, teachers = self.models
            from w2s.media.samplers import make_sampler

            job = LabelJob(
                make_sampler(self.config.pool.sampler), self.config.pool.max_side, self.config.seed,
                make_distortions(families), teachers, backbone, vmaf=vmaf,
                # a teacher with a variant share scores the variants of that share of the training pool;
                # the eval set is scored in full, so every model is measured on the same items
                variant_shares={n: variant_share(n, o) for n, o in self.config.teacher_specs()} if shares else {},
                # on a GPU one item at a time: the device is the bottleneck, not the CPU's threads
                workers=self.config.pool.label_workers or (1 if self.accelerator.device.type != "cpu" else 0),
            )
            label_pool(manifest, folder, job, f"label {split}", self.accelerator)
        if split == "label":
            self.backbone_info = self.cached(self.folder.backbone, lambda: describe_backbone(self.models[0]),
                                             io.write_json, io.read_json, main_only=True)
        # features of several backbones carry their block scales (students.multi) to every head
        return Labels(*load_labels(folder), blocks=self.backbone_info.get("blocks") if split == "label" else None)

    def save_student(self, head, pool: Labels, k: int, path: Path) -> None:
        from students.student import Student

        frozen = self.backbone_info["parameters"]
        meta = {
            "trainable_share": sum(p.numel() for p in head.parameters()) / frozen,
            "round": k,
            "run": self.config.name,
            "sampler": self.config.pool.sampler,
            "max_side": self.config.pool.max_side,
            # the 0-100 scale of `w2s score`: the share of this run's training items
            # (clean and distorted) that a clip scores above
            "train_score_quantiles": np.quantile(score_labels(head, pool),
                                                 np.linspace(0, 1, 101)).tolist(),
        }
        # the log first: the student's folder is what marks the training done (a kill between the two
        # must not leave a student without its log)
        io.write_json({"epoch_loss": head.history, "num_processes": self.accelerator.num_processes},
                      self.folder.round(k).train_log)
        Student.from_config(self.config.student, head, meta=meta, prior=head.prior).save_pretrained(path)
        shutil.rmtree(self.folder.round(k).train_state, ignore_errors=True)  # the student supersedes it

    def train_comparative(self, pool: Labels, pairs: pd.DataFrame, teachers: Teachers, k: int):
        """The round's comparative student (:mod:`w2s.comparative`), anchored on the round's consensus."""
        from w2s.comparative import ItemPixels, train_comparative

        config = self.config
        # the label stage's models are done with: on a GPU the frozen VLM backbone would otherwise sit
        # beside the one being trained (rebuilt on demand if a later stage asks for them)
        self.__dict__.pop("models", None)
        pixels = ItemPixels(pool.items, pd.read_parquet(self.folder.manifest("label")), config.pool.sampler,
                            config.pool.max_side, make_distortions({**config.distortions, **config.teacher_only}),
                            config.student.comparative.frames)
        return train_comparative(pool, pairs, teachers.consensus(), config, k, self.accelerator, pixels)

    def score_comparative(self, evalset: Labels, folder: Path) -> np.ndarray:
        """The saved comparative student's scores of the held-out items, on their regenerated pixels
        (K pair passes each: every process scores its share, and all get every score)."""
        from students.comparative import ComparativeStudent
        from w2s.comparative import ItemPixels, score_items

        config = self.config
        student = ComparativeStudent.from_pretrained(folder)
        student.backbone_options["device"] = str(self.accelerator.device)
        families = {**(config.eval.in_distribution or config.distortions), **config.eval.ood}
        pixels = ItemPixels(evalset.items, pd.read_parquet(self.folder.manifest("evalset")), config.pool.sampler,
                            config.pool.max_side, make_distortions(families), student.frames)
        return score_items(student, pixels, evalset.items.item_id, f"comparative {folder.parent.name} eval",
                           self.accelerator)

    def write_card(self, k: int, metrics: dict | None) -> None:
        """The round-k student's model card (README.md in its folder), with the held-out table if any."""
        from students import describe_spec, spec_label
        from w2s.model_card import write_model_card

        files = self.folder.round(k)
        saved = io.read_json(files.student / "config.json")
        description = describe_spec(saved["backbone"])
        meta = saved.get("meta", {})
        student = {"name": f"{self.config.name} student r{k}", "backbone": spec_label(saved["backbone"]), "description": description,
                   "backbone_options": saved.get("backbone_options"),
                   "extras": {o: saved.get(o, False) for o in ("motion", "temporal", "nss")},
                   "prior": (saved.get("prior") or {}).get("teachers", []), "round": k,
                   "sampler": meta.get("sampler"), "max_side": meta.get("max_side"),
                   "trainable_share": meta.get("trainable_share", float("nan"))}
        run = {"name": self.config.name, "teachers": self.config.teacher_names(),
               "reliability": io.read_json(files.teachers), "metrics": metrics, "versions": _versions()}
        write_model_card(files.student, student, run)

    def write_failures(self) -> None:
        """Every file the run could not use, from the scans and the label stages, with its reason."""
        if not self.main:
            return
        parts = []
        for split in ("label", "evalset"):
            if self.folder.manifest(split).exists():
                m = pd.read_parquet(self.folder.manifest(split))
                parts.append(m[m.status != "ok"][["id", "path", "error"]].assign(stage=f"scan {split}"))
            if (getattr(self.folder, split) / "failures.parquet").exists():
                parts.append(pd.read_parquet(getattr(self.folder, split) / "failures.parquet"))
        columns = ["id", "path", "stage", "error"]
        failures = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
        io.write_parquet(failures, self.folder.failures)
        if len(failures):
            log.warning("%d file(s) could not be used; reasons in %s", len(failures), self.folder.failures)


def leave_one_family_out(ctx: Context, pool: Labels) -> pd.DataFrame:
    """Each training family held out in turn: the rounds (``eval.lofo: first``: round 0 only) are run
    again, in a scratch folder of the run (shared by every process, so a launch of several runs it
    as it runs the rounds; removed once the table is written), on the pool without that family's
    items, and every round's student and the teachers' ensemble are scored on its ladders
    (:mod:`w2s.lofo`). A killed computation resumes at the stage it had reached."""
    from w2s import lofo

    config = ctx.config
    scratch = ctx.folder.root / "lofo_scratch"

    def fit(family: str) -> dict[str, np.ndarray]:
        rest = {f: v for f, v in config.distortions.items() if f != family}
        held = dataclasses.replace(config, name=f"without_{family}", output_dir=str(scratch), distortions=rest,
                                   rounds=1 if config.eval.lofo == "first" else config.rounds)
        sub = Context(held, ctx.accelerator)
        sub.backbone_info = ctx.backbone_info
        heads = train_rounds(sub, pool)
        dist = distortion_pairs(pool.restrict(set(rest)).items, config.pairs.gap1_p, config.pairs.gap2_p)
        teachers = Teachers.of_round(pool.restrict({*rest, *config.teacher_only}), [], dist, held)
        scores = {student_teacher_name(k): score_labels(h, pool) for k, h in enumerate(heads)}
        scores["ensemble"] = teachers.consensus(pool.items, weak_only=True)
        return scores

    log.info("leave-one-family-out over %s (%s)", ", ".join(config.distortions), config.eval.lofo)
    table = lofo.leave_one_family_out(pool.items, config, fit, progress=True)
    ctx.barrier()
    if ctx.main:
        shutil.rmtree(scratch, ignore_errors=True)
    return table


# ----------------------------------------------------------------------------- setup helpers


def check_names(config: RunConfig) -> None:
    """Fail early, with close matches, on any unknown plugin name in the config."""
    from students import check_backbone
    from teachers import check_teacher

    check_backbone(config.student.backbone)
    for name, options in config.teacher_specs():
        check_teacher(name)
        variant_share(name, options)
    make_distortions({**config.distortions, **(config.eval.in_distribution or {}), **config.eval.ood})  # ladders too
    leaked = set(config.eval.ood) & set(config.distortions)
    if leaked:
        raise ConfigError(f"eval.ood families {sorted(leaked)} are also training distortions: OOD families must be held out")


def teacher_options(name: str, options: dict, device: str) -> dict:
    """A teacher's constructor options: its config options but `variant_share` (the label stage's),
    plus the run's device for a teacher that takes one."""
    from teachers import teacher_class

    options = {k: v for k, v in options.items() if k != "variant_share"}
    if teacher_class(name).takes_device:
        options.setdefault("device", device)
    return options


def make_distortions(families: dict) -> dict:
    from distortions import DISTORTIONS

    return {family: DISTORTIONS.resolve(family)(ladder=ladder) for family, ladder in families.items()}


def make_manifest(source: Path, limit: int = 0) -> pd.DataFrame:
    from w2s.media.scan import build_manifest, scan_pool

    entries = scan_pool(source)
    if limit:
        entries = sorted(entries, key=lambda e: e.id)[:limit]
    return build_manifest(entries)


def describe_backbone(backbone) -> dict:
    """What made the features: name, feature length and size (the size gives the trainable share)."""
    info = {"name": backbone.name, "dim": backbone.dim, "parameters": int(backbone.parameter_count())}
    blocks = getattr(backbone, "blocks", None)  # several backbones only: a single one's file is unchanged
    return {**info, "blocks": blocks} if blocks else info


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("w2s-vqa", "torch", "transformers", "accelerate", "pyiqa", "kornia", "av"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5)
        out["git_sha"] = sha.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        out["git_sha"] = None
    return out


def config_changes(previous: dict, current: dict, section=RunConfig, where: str = "") -> list[str]:
    """Dotted keys whose value differs between a recorded config and the current one.

    A config field the recorded config lacks counts as at its default: a field
    added to the framework since the run started leaves the run resumable. Only
    fields of the config's sections get that reading; a family or teacher option
    missing from a recorded mapping is a change.
    """
    fields = {f.name: f for f in dataclasses.fields(section)}
    defaults = section().__dict__
    out = []
    for key in sorted(set(previous) | set(current)):
        path = f"{where}.{key}" if where else str(key)
        if path in RESUMABLE_KEYS:
            continue
        field = fields.get(key)
        default = dataclasses.asdict(defaults[key]) if field and dataclasses.is_dataclass(defaults[key]) else defaults.get(key)
        before = previous.get(key, default) if field else previous.get(key)
        after = current.get(key, default) if field else current.get(key)
        if field and dataclasses.is_dataclass(defaults[key]) and isinstance(before, dict) and isinstance(after, dict):
            out += config_changes(before, after, type(defaults[key]), path)
        elif before != after:
            out.append(path)
    return out


def write_run_config(config: RunConfig, path: Path) -> None:
    """Record the resolved config; refuse to mix two different configs in one run folder."""
    current = config.to_dict()
    if path.exists():
        previous = (yaml.safe_load(path.read_text()) or {}).get("config", {})
        changed = config_changes(previous, current)
        if changed:
            raise ConfigError(
                f"{config.run_dir} was made with a different config ({', '.join(changed)} changed): "
                "give the run a new name, or delete that folder"
            )
    io.write_text(yaml.safe_dump({"config": current, "versions": _versions()}, sort_keys=False), path)
