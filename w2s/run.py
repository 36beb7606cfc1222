"""One weak-to-strong run: pool -> labels -> rounds of (pairs, student, eval).

Read top to bottom, this is the method. Every stage writes under the run
folder with a temp name and a rename, and a round writes its DONE marker
last, so a rerun of a finished or killed run skips what is complete and
finishes the rest. Raising ``rounds`` in the config and rerunning continues
a finished run.
"""

from __future__ import annotations

import logging
import platform
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from w2s import io
from w2s.config import RunConfig
from w2s.errors import ConfigError, W2SError
from w2s.evaluate import evaluate_scores
from w2s.hard_cases import mine_hard_cases, out_of_fold_scores
from w2s.label import LabelJob, label_pool, load_labels, probe_fraction, score_column
from w2s.pairs import (
    distortion_pairs,
    ensemble_score,
    reliability_weights,
    teacher_matrix,
    teacher_pairs,
    teacher_reliability,
)
from w2s.train import score_items, train_head

log = logging.getLogger(__name__)

CODEC_FAMILIES = {"h264", "h265", "vp9", "av1"}
# config keys that may change between a run and its rerun without invalidating its files
RESUMABLE_KEYS = {"rounds"}
# teacher families that run a model and take a `device` option (labelling follows the accelerator)
DEVICE_FAMILIES = {"pyiqa", "vlm"}


# ----------------------------------------------------------------------------- setup


def round_dir(run_dir: Path, k: int) -> Path:
    return run_dir / f"round_{k:02d}"


def student_teacher_name(k: int) -> str:
    """The round-k student's name as a teacher of later rounds and in tables."""
    return f"student r{k}"


def check_names(config: RunConfig) -> None:
    """Fail early, with close matches, on any unknown plugin name in the config."""
    from distortions import DISTORTIONS
    from students import check_backbone
    from teachers import check_teacher

    check_backbone(config.student.backbone)
    for name, _ in config.teacher_specs():
        check_teacher(name)
    families = dict(config.distortions)
    families.update(config.eval.in_distribution or {})
    families.update(config.eval.ood)
    for family, ladder in families.items():
        DISTORTIONS.resolve(family)(ladder=ladder)  # validates the ladder too
    leaked = set(config.eval.ood) & set(config.distortions)
    if leaked:
        raise ConfigError(f"eval.ood families {sorted(leaked)} are also training distortions: OOD families must be held out")


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


def write_run_config(config: RunConfig) -> None:
    """Record the resolved config; refuse to mix two different configs in one run folder."""
    path = config.run_dir / "config.yaml"
    current = config.to_dict()
    if path.exists():
        previous = (yaml.safe_load(path.read_text()) or {}).get("config", {})
        changed = sorted(k for k in set(previous) | set(current) if k not in RESUMABLE_KEYS and previous.get(k) != current.get(k))
        if changed:
            raise ConfigError(
                f"{config.run_dir} was made with a different config ({', '.join(changed)} changed): "
                "give the run a new name, or delete that folder"
            )
    io.write_text(yaml.safe_dump({"config": current, "versions": _versions()}, sort_keys=False), path)


def resolve_pool(source: str, run_dir: Path, seed: int) -> Path:
    """A pool path; ``samples:SPLIT`` builds the embedded real-content pool in the run folder."""
    if source.startswith("samples:"):
        from w2s.media.samples import build_samples

        split = source.partition(":")[2]
        out = run_dir / "samples" / split
        build_samples(out, split=split, seed=seed)
        return out
    path = Path(source)
    if not path.exists():
        raise W2SError(f"pool source not found: {source} (a folder, .csv or .jsonl of videos, or samples:train)")
    return path


def make_manifest(source: Path, out: Path, limit: int = 0) -> pd.DataFrame:
    if out.exists():
        return pd.read_parquet(out)
    from w2s.media.scan import build_manifest, scan_pool

    entries = scan_pool(source)
    if limit:
        entries = sorted(entries, key=lambda e: e.id)[:limit]
    manifest = build_manifest(entries)
    io.write_parquet(manifest, out)
    return manifest


def make_distortions(families: dict) -> dict:
    from distortions import DISTORTIONS

    return {family: DISTORTIONS.resolve(family)(ladder=ladder) for family, ladder in families.items()}


def teacher_options(name: str, options: dict) -> dict:
    """A teacher's constructor options: its config options but `probe` (the label stage's, see
    LabelJob.probes), plus the device for the families that take one."""
    options = {k: v for k, v in options.items() if k != "probe"}
    if name.split(":", 1)[0] in DEVICE_FAMILIES and "device" not in options:
        from accelerate.state import PartialState

        return {**options, "device": str(PartialState().device)}
    return options


def write_failures(run_dir: Path) -> None:
    """Every file the run could not use, from the scans and the label stages, with its reason."""
    parts = []
    for name, stage in (("manifest.parquet", "scan"), ("evalset_manifest.parquet", "scan eval set")):
        if (run_dir / name).exists():
            m = pd.read_parquet(run_dir / name)
            parts.append(m[m.status != "ok"][["id", "path", "error"]].assign(stage=stage))
    for folder in ("label", "evalset"):
        if (run_dir / folder / "failures.parquet").exists():
            parts.append(pd.read_parquet(run_dir / folder / "failures.parquet"))
    failures = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["id", "path", "stage", "error"])
    io.write_parquet(failures[["id", "path", "stage", "error"]], run_dir / "failures.parquet")
    if len(failures):
        log.warning("%d file(s) could not be used; reasons in %s", len(failures), run_dir / "failures.parquet")


# ----------------------------------------------------------------------------- one round


def round_scores(items: pd.DataFrame, config: RunConfig, k: int) -> tuple[pd.DataFrame, list[str]]:
    """Items with every round-k teacher's score: the configured ones, then each earlier student.

    Student j scores the training pool out of fold (``round_{j+1}/oof.parquet``):
    each item by a head that never saw its content. In-sample, a head on frozen
    features reproduces the pairs it was fitted to, and as a teacher it would
    only hand its own labels back (the quickstart's held-out OOD SRCC fell
    round over round that way).
    """
    scores = items.copy()
    columns = [score_column(t) for t in config.teacher_names()]
    for j in range(k):
        oof = pd.read_parquet(round_dir(config.run_dir, j + 1) / "oof.parquet")
        col = score_column(student_teacher_name(j))
        scores[col] = oof.set_index("item_id").score.reindex(items.item_id).to_numpy()
        columns.append(col)
    return scores, columns


def ensemble_weights(config: RunConfig, reliability: dict) -> np.ndarray:
    if config.pairs.ensemble == "reliability":
        return reliability_weights(reliability)
    return np.ones(len(reliability))


def base_scores(items: pd.DataFrame) -> torch.Tensor:
    """The backbone's own score per item (a VLM's level-word score; 0 for a CNN)."""
    base = items["base"].to_numpy(dtype=np.float32) if "base" in items else np.zeros(len(items), dtype=np.float32)
    return torch.tensor(base)


def previous_student_oof(items, features, config: RunConfig, k: int, accelerator) -> np.ndarray:
    """Out-of-fold scores of the round-(k-1) student's training setup on the pool (round_k/oof.parquet)."""
    path = round_dir(config.run_dir, k) / "oof.parquet"
    if not path.exists():
        previous = pd.read_parquet(round_dir(config.run_dir, k - 1) / "pairs.parquet")
        index = {item: i for i, item in enumerate(items.item_id)}
        oof = out_of_fold_scores(
            items, features, previous, index, config, config.seed + 7919 * k, accelerator, base_scores(items)
        )
        if accelerator.is_main_process:
            io.write_parquet(pd.DataFrame({"item_id": items.item_id, "score": oof}), path)
    accelerator.wait_for_everyone()
    return pd.read_parquet(path).score.to_numpy()


def build_pairs(scores, columns, weights, dist, config, k) -> pd.DataFrame:
    """Teacher pairs (same draw every round, relabelled by the round's ensemble),
    distortion pairs, and the hard cases of every round so far."""
    tp = teacher_pairs(scores, columns, weights, config.pairs.teacher_pairs, config.seed, config.pairs.min_confidence)
    parts = [tp.assign(round=k), dist.assign(round=k)]
    if k > 0:
        previous = pd.read_parquet(round_dir(config.run_dir, k - 1) / "pairs.parquet")
        parts.append(previous[previous.source.str.startswith("hard_")])
        oof = scores[score_column(student_teacher_name(k - 1))].to_numpy()
        z = teacher_matrix(scores, columns)
        parts.append(mine_hard_cases(scores, previous, oof, z, weights, config, k))
    return pd.concat(parts, ignore_index=True)


def describe_backbone(backbone, path: Path) -> None:
    """What made the features: name, dim and size (the size gives the trainable share)."""
    if callable(getattr(backbone, "parameter_count", None)):
        size = backbone.parameter_count()
    else:
        size = sum(p.numel() for p in backbone.parameters())
    io.write_json({"name": backbone.name, "dim": backbone.dim, "parameters": int(size)}, path)


def trainable_share(head, config: RunConfig) -> float:
    """Trained parameters (the head) over the frozen backbone's parameters."""
    path = config.run_dir / "label" / "backbone.json"
    if not path.exists():
        return float("nan")
    frozen = yaml.safe_load(path.read_text())["parameters"]
    return sum(p.numel() for p in head.parameters()) / frozen


def save_student(head, scores_on_train: np.ndarray, config: RunConfig, k: int, path: Path) -> None:
    from students.student import Student

    meta = {
        "trainable_share": trainable_share(head, config),
        "round": k,
        "run": config.name,
        "sampler": config.pool.sampler,
        "max_side": config.pool.max_side,
        # the 0-100 scale of `w2s score`: the share of this run's training items
        # (clean and distorted) that a clip scores above
        "train_score_quantiles": np.quantile(scores_on_train, np.linspace(0, 1, 101)).tolist(),
    }
    Student.from_config(config.student, head, meta=meta).save_pretrained(path)


def evaluate_round(config: RunConfig, k: int, weights: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Each teacher, the ensemble and every student so far on the held-out set."""
    from students.student import Student

    items, features = load_labels(config.run_dir / "evalset")
    id_fams = list(config.eval.in_distribution or config.distortions)
    ood_fams = list(config.eval.ood)
    for j in range(k + 1):
        student = Student.from_pretrained(round_dir(config.run_dir, j) / "student")
        items[score_column(student_teacher_name(j))] = student.score_features(features, base_scores(items)).numpy()
    models = {t: items[score_column(t)].to_numpy() for t in config.teacher_names()}
    # the weak teachers' ensemble (what round 0 learns from) and, from round 1 on, the
    # ensemble of this round's teachers, which includes every earlier student
    n_weak = len(config.teacher_names())
    models["ensemble"] = ensemble_score(teacher_matrix(items, columns[:n_weak]), weights[:n_weak])
    if k > 0:
        models["ensemble + students"] = ensemble_score(teacher_matrix(items, columns), weights)
    for j in range(k + 1):
        models[student_teacher_name(j)] = items[score_column(student_teacher_name(j))].to_numpy()
    out = round_dir(config.run_dir, k) / "eval"
    io.write_parquet(items.drop(columns=["params"]).assign(**{f"model:{m}": s for m, s in models.items()}), out / "scores.parquet")
    results = {name: evaluate_scores(s, items, id_fams, ood_fams) for name, s in models.items()}
    io.write_json(results, out / "metrics.json")
    return results


def results_table(results: dict, reliability: dict) -> pd.DataFrame:
    rows = []
    for name, r in results.items():
        rows.append(
            {
                "model": name,
                "reliability": reliability.get(f"score:{name}", np.nan),
                "ID SRCC": r.get("id_srcc", np.nan),
                "OOD SRCC": r.get("ood_srcc", np.nan),
                "VMAF SRCC": r.get("vmaf_srcc", np.nan),
                "VMAF PLCC": r.get("vmaf_plcc", np.nan),
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the run


def run(
    config: RunConfig,
    stop_after: str | None = None,
    on_round: Callable[[int, pd.DataFrame], None] | None = None,
    accelerator=None,
) -> Path:
    """Run (or resume) every stage; ``stop_after`` is ``label``, ``evalset``, ``pairs:K`` or ``round:K``."""
    from accelerate import Accelerator

    from students.student import build_perception
    from teachers import make_teacher
    from w2s.media.samplers import make_sampler

    check_names(config)
    run_dir = config.run_dir
    accelerator = accelerator or Accelerator(cpu=not torch.cuda.is_available())
    main_process = accelerator.is_main_process
    # several processes (accelerate launch) share the labelling and the training; the
    # main process alone writes shared files, and the others wait at each barrier
    barrier = accelerator.wait_for_everyone
    log.info("run %s: %d process(es), device %s", config.name, accelerator.num_processes, accelerator.device)
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(config)
    barrier()
    sampler = make_sampler(config.pool.sampler)

    def pool_manifest(source: str, name: str, limit: int) -> pd.DataFrame:
        if main_process:
            make_manifest(resolve_pool(source, run_dir, config.seed), run_dir / name, limit)
        barrier()
        return pd.read_parquet(run_dir / name)

    # the backbone and pixel teachers, built only if some labelling is left, and then before the
    # pool is scanned: a missing weight file or a bad option fails in seconds, not after the scan
    pixel_side = {}

    def job_for(families: dict, vmaf_families=frozenset(), probes: bool = False) -> LabelJob:
        # a `probe` teacher scores the variants of a seeded share of the training pool only;
        # the eval set is scored in full, so every model is measured on the same items
        fractions = {name: probe_fraction(name, options) for name, options in config.teacher_specs()}
        if not pixel_side:
            # on a GPU launch each process labels on its own device
            backbone_options = dict(config.student.backbone_options)
            if config.student.backbone.startswith("vlm:"):
                # loaded straight onto the device, in the dtype that device supports (auto: bf16/fp16 on a GPU)
                backbone_options.setdefault("device", str(accelerator.device))
            pixel_side["backbone"] = build_perception(
                config.student.backbone, backbone_options, config.student.motion, config.student.temporal
            ).to(accelerator.device)
            pixel_side["teachers"] = {
                name: make_teacher(name, **teacher_options(name, options)) for name, options in config.teacher_specs()
            }
        return LabelJob(
            sampler, config.pool.max_side, config.seed, make_distortions(families),
            pixel_side["teachers"], pixel_side["backbone"], set(vmaf_families),
            probes=fractions if probes else {},
            # on a GPU one item at a time: the device is the bottleneck, not the CPU's threads
            workers=config.pool.label_workers or (1 if accelerator.device.type != "cpu" else 0),
        )

    labelling_left = not io.is_done(run_dir / "label") or (
        config.eval.source != "none" and not io.is_done(run_dir / "evalset")
    )
    if labelling_left:
        job_for({})  # builds the models

    # 1. the pool, scanned once: unreadable files are recorded and skipped
    manifest = pool_manifest(config.pool.source, "manifest.parquet", config.pool.limit)
    if not (manifest.status == "ok").any():
        raise W2SError(f"no readable video in the pool {config.pool.source}; see {run_dir / 'manifest.parquet'}")

    # 2. decode each video once: variants, teacher scores, frozen features
    if not io.is_done(run_dir / "label"):
        label_pool(manifest, run_dir / "label", job_for(config.distortions, probes=True), "label pool", accelerator)
        if main_process:
            describe_backbone(pixel_side["backbone"], run_dir / "label" / "backbone.json")
    if stop_after == "label":
        return run_dir

    # 3. the held-out evaluation set: other content, plus families never trained on
    if config.eval.source != "none" and not io.is_done(run_dir / "evalset"):
        eval_manifest = pool_manifest(config.eval.source, "evalset_manifest.parquet", config.eval.limit)
        families = dict(config.eval.in_distribution or config.distortions)
        families.update(config.eval.ood)
        vmaf_families = (CODEC_FAMILIES & set(families)) if config.eval.vmaf else set()
        label_pool(eval_manifest, run_dir / "evalset", job_for(families, vmaf_families), "label eval set", accelerator)
    if main_process:
        write_failures(run_dir)
    if stop_after == "evalset":
        return run_dir

    # 4. rounds
    items, features = load_labels(run_dir / "label")
    index = {item: i for i, item in enumerate(items.item_id)}
    dist = distortion_pairs(items, config.pairs.gap1_p, config.pairs.gap2_p)
    for k in range(config.rounds):
        rdir = round_dir(run_dir, k)
        barrier()  # every process sees the same files before deciding what is left to do
        if k > 0 and not io.is_done(rdir):
            previous_student_oof(items, features, config, k, accelerator)
        scores, columns = round_scores(items, config, k)
        reliability = teacher_reliability(scores, columns, dist)
        weights = ensemble_weights(config, reliability)
        if io.is_done(rdir):
            if on_round and main_process and config.eval.source != "none" and k == config.rounds - 1:
                metrics = yaml.safe_load((rdir / "eval" / "metrics.json").read_text())
                on_round(k, results_table(metrics, reliability))
            continue
        if main_process:
            io.write_parquet(scores.drop(columns=["params"]), rdir / "scores.parquet")
            io.write_json({"reliability": reliability, "weights": dict(zip(columns, weights.tolist()))}, rdir / "teachers.json")

        # every process builds the same pairs (seeded; mining trains heads together)
        if (rdir / "pairs.parquet").exists():
            pairs = pd.read_parquet(rdir / "pairs.parquet")
        else:
            pairs = build_pairs(scores, columns, weights, dist, config, k)
            if main_process:
                io.write_parquet(pairs, rdir / "pairs.parquet")
        log.info("round %d: %d pairs (%s)", k, len(pairs), pairs.source.value_counts().to_dict())
        barrier()
        if stop_after == f"pairs:{k}":
            return run_dir

        if not (rdir / "student" / "config.json").exists():
            head, history = train_head(
                features, pairs, index, config.student, config.train, config.seed + k, accelerator,
                base=base_scores(items),
            )
            if main_process:
                save_student(head, score_items(head, features, base_scores(items)), config, k, rdir / "student")
                io.write_json({"epoch_loss": history, "num_processes": accelerator.num_processes}, rdir / "train_log.json")
        barrier()

        if main_process:
            if config.eval.source != "none":
                results = evaluate_round(config, k, weights, columns)
                if on_round:
                    on_round(k, results_table(results, reliability))
            io.mark_done(rdir)
        if stop_after == f"round:{k}":
            barrier()
            return run_dir
    barrier()
    return run_dir
