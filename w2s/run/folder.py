"""Every path of a run folder, in one place.

```
runs/NAME/
  config.yaml  manifest.parquet  evalset_manifest.parquet  failures.parquet  report.md
  samples/SPLIT/          the embedded pools, when the config asks for samples:SPLIT
  label/  evalset/        items.parquet features.safetensors failures.parquet shards/ DONE
  label/backbone.json     name, feature length and size of the frozen backbone
  backbones/NAME/         `w2s select-backbones`: each candidate backbone's features; selection.csv
  round_KK/               scores.parquet teachers.json pairs.parquet student/ train_log.json
                          train_state/ (while the student trains: its last checkpoint)
                          oof.parquet (the student's out-of-fold scores of the pool) eval/
                          comparative/ (student.kind: comparative: LoRA adapter, anchors, config)
                          student_prior/ distil_log.json distil_state/ (student.standalone: the prior
                          student, and student/ its distillation, which scores with no teacher)
```

Every file is written under a temporary name and renamed when complete
(:mod:`w2s.core.io`), so a file that exists is whole; :func:`cached`
builds on that to skip what a killed or finished run already has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RoundFolder:
    """The files of round ``k``."""

    root: Path

    @property
    def scores(self) -> Path:  # every teacher's score per training item, this round's teachers
        return self.root / "scores.parquet"

    @property
    def teachers(self) -> Path:  # reliability and ensemble weight per teacher
        return self.root / "teachers.json"

    @property
    def pairs(self) -> Path:
        return self.root / "pairs.parquet"

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def student_prior(self) -> Path:  # student.standalone: the student with its teachers' prior, distilled into student/
        return self.root / "student_prior"

    @property
    def distil_state(self) -> Path:  # student.standalone: the distillation's last checkpoint; removed once student/ is written
        return self.root / "distil_state"

    @property
    def distil_log(self) -> Path:
        return self.root / "distil_log.json"

    @property
    def comparative(self) -> Path:  # the comparative student (student.kind: comparative)
        return self.root / "comparative"

    @property
    def train_state(self) -> Path:  # the training's last checkpoint; removed once student/ is written
        return self.root / "train_state"

    @property
    def train_log(self) -> Path:
        return self.root / "train_log.json"

    @property
    def oof(self) -> Path:  # this round's student's out-of-fold scores of the training pool
        return self.root / "oof.parquet"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def metrics(self) -> Path:
        return self.eval / "metrics.json"


@dataclass(frozen=True)
class RunFolder:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    def manifest(self, split: str) -> Path:
        """The scan of the training pool (``label``) or of the held-out set (``evalset``)."""
        return self.root / ("manifest.parquet" if split == "label" else f"{split}_manifest.parquet")

    def samples(self, split: str) -> Path:
        return self.root / "samples" / split

    @property
    def label(self) -> Path:
        return self.root / "label"

    @property
    def evalset(self) -> Path:
        return self.root / "evalset"

    def items(self, split: str) -> Path:
        """A label stage's items (one row per clean clip and variant, with every teacher's score)."""
        return getattr(self, split) / "items.parquet"

    @property
    def backbone(self) -> Path:
        return self.label / "backbone.json"

    @property
    def backbones(self) -> Path:  # `w2s select-backbones`: each candidate's features, and selection.csv
        return self.root / "backbones"

    @property
    def failures(self) -> Path:
        return self.root / "failures.parquet"

    @property
    def lofo(self) -> Path:  # leave-one-family-out SRCC per model and family, on the training pool
        return self.root / "lofo.parquet"

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def study(self) -> Path:  # `w2s study`: every model on every labelled set, report.md, plots
        return self.root / "study"

    def round(self, k: int) -> RoundFolder:
        return RoundFolder(self.root / f"round_{k:02d}")

    def rounds_written(self) -> list[int]:
        """The rounds that have written their teachers (what ``w2s list teachers --run`` reads)."""
        return sorted(int(p.parent.name[6:]) for p in self.root.glob("round_*/teachers.json"))


def cached(path: Path, compute: Callable[[], T], save: Callable[[T, Path], None], load: Callable[[Path], T],
           main_process: bool = True, barrier: Callable[[], None] = lambda: None, main_only: bool = False) -> T:
    """``path``'s value: read if it exists (it is whole: writes are atomic), else computed and saved.

    Under several processes every process computes (the stages that call this
    are seeded and deterministic, or train together) and only the main one
    writes; with ``main_only`` the main process alone computes and the others
    read what it wrote. Every process passes one barrier on every branch, so a
    process that finds the file the main one has just written still meets it
    there, and the next stage sees the file everywhere.
    """
    if path.exists():
        value = load(path)
    elif main_only:
        if main_process:
            save(compute(), path)
        barrier()
        return load(path)
    else:
        value = compute()
        if main_process:
            save(value, path)
    barrier()
    return value
