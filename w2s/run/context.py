"""The run's context: its config, its folder, its processes and the models the label stage builds.

:func:`open_run` reopens a run folder (every command that reads a finished run goes through it).
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

from w2s.config import RunConfig, load_run_config
from w2s.core import io
from w2s.core.errors import ConfigError
from w2s.run.folder import RunFolder, cached
from w2s.run.provenance import write_run_config

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


