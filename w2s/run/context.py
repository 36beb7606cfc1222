"""The run's context: its config, its folder, its processes and the models the label stage builds.

:func:`open_run` reopens a run folder (every command that reads a finished run goes through it).
"""

from __future__ import annotations

import logging
import shutil
from functools import cached_property
from pathlib import Path

import yaml

from w2s.config import RunConfig, load_run_config
from w2s.core import io
from w2s.core.errors import ConfigError
from w2s.run.folder import RunFolder, cached
from w2s.run.provenance import config_changes, write_run_config

log = logging.getLogger(__name__)


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
        self.reuse_from: Path | None = None  # another run whose label stage this one copies from (w2s.run.reuse)

    @property
    def device(self) -> str:
        return str(self.accelerator.device)

    def cached(self, path: Path, compute, save, load, main_only: bool = False):
        return cached(path, compute, save, load, self.main, self.barrier, main_only)

    def start(self) -> None:
        config = self.config
        check_names(config)
        log.info("run %s: %d process(es), device %s", config.name, self.accelerator.num_processes, self.accelerator.device)
        if self.main:
            self.folder.root.mkdir(parents=True, exist_ok=True)
            restart_without_results(config, self.folder)
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

        student = self.config.student
        backbone = build_perception(student.backbone, student.backbone_options, student.extras(), self.device)
        teachers = {name: make_teacher(name, device=self.device, **options) for name, options in self.config.teacher_specs()}
        return backbone, teachers

    def release_models(self) -> None:
        """Drop the label stage's models (rebuilt on demand): on a GPU a frozen VLM would otherwise sit
        beside a model being trained."""
        self.__dict__.pop("models", None)


def open_run(run_dir: str | Path, accelerator=None) -> Context:
    """A run folder reopened: the config it was made with and what its label stage recorded."""
    from w2s.run.train import default_accelerator

    config = load_run_config(run_dir)
    ctx = Context(config, accelerator or default_accelerator())
    ctx.folder = RunFolder(Path(run_dir))  # where it is now, wherever it was made
    if ctx.folder.backbone.is_file():
        ctx.backbone_info = io.read_json(ctx.folder.backbone)
    return ctx


def has_results(folder: RunFolder) -> bool:
    """Whether a run folder holds any result: a labelled video (a finished label stage or a shard of
    one), or a round."""
    return any(io.is_done(stage) or any((stage / "shards").glob("*.parquet")) for stage in (folder.label, folder.evalset)) \
        or any(folder.root.glob("round_*"))


def restart_without_results(config: RunConfig, folder: RunFolder) -> None:
    """A run folder with no result yet takes a changed config: a mistake found when every video failed
    (or before any was labelled) does not lock the run's name. What the failed attempt left was made
    under the old config (its scans, its failed shards, its samples when the seed changed) and is
    removed; a folder with a result keeps refusing a change (:func:`write_run_config`)."""
    if not folder.config.is_file() or has_results(folder):
        return
    previous = (yaml.safe_load(folder.config.read_text()) or {}).get("config", {})
    changed = config_changes(previous, config.to_dict())
    if not changed:
        return
    log.warning("%s holds no result yet: it starts again with the changed config (%s)", folder.root, ", ".join(changed))
    stale = [folder.label, folder.evalset, folder.manifest("label"), folder.manifest("evalset"), folder.failures,
             folder.config] + ([folder.root / "samples"] if "seed" in changed else [])
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def check_names(config: RunConfig) -> None:
    """Fail early, with close matches, on any unknown plugin name in the config."""
    from distortions import make_distortions
    from students import check_backbone
    from teachers import check_teacher
    from w2s.run.label import variant_share

    check_backbone(config.student.backbone)
    for name, options in config.teacher_specs():
        check_teacher(name)
        variant_share(name, options)
    make_distortions({**config.training_families(), **config.eval_families()})  # ladders too
    leaked = set(config.eval.ood) & set(config.distortions)
    if leaked:
        raise ConfigError(f"eval.ood families {sorted(leaked)} are also training distortions: OOD families must be held out")


def describe_backbone(backbone) -> dict:
    """What made the features: name, feature length and size (the size gives the trainable share)."""
    info = {"name": backbone.name, "dim": backbone.dim, "parameters": int(backbone.parameter_count())}
    blocks = getattr(backbone, "blocks", None)  # several backbones only: a single one's file is unchanged
    return {**info, "blocks": blocks} if blocks else info


