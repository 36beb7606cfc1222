"""The run config: typed, validated once, unknown keys fail.

Each field is documented here and only here; ``configs/*.yaml`` override the
defaults. Paths in a config file resolve against the folder it is run from.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from w2s.errors import ConfigError
from w2s.registry import suggest


@dataclass
class PoolConfig:
    # folder (recursive), .csv (column `path`) or .jsonl (key `path`) of videos and
    # images; `samples:train` builds the embedded real-content pool into the run dir
    source: str = "samples:train"
    # frames are downscaled (antialiased) so the longer side is at most this; 0 keeps them
    max_side: int = 320
    # frame sampler: {name: uniform, num_frames: N}, {name: fps, fps: 1, max_frames: N},
    # {name: frame_difference, num_frames: N} (one frame per equal segment, the one that
    # changes most; costs a first decode pass), or {name: fragments, num_frames: N, grid: 7,
    # patch: 32, seed: 0} (uniform frames made grid x grid mosaics of native-resolution
    # patches, (grid*patch)^2 pixels; max_side does not apply)
    sampler: dict = field(default_factory=lambda: {"name": "uniform", "num_frames": 4})
    # use at most this many pool videos (0: all); the first by id, for quick trials
    limit: int = 0
    # items labelled at once by worker threads, each on its share of torch's threads; 0: two
    # on a CPU with two threads or more, one on a GPU or with a VLM teacher or backbone
    label_workers: int = 0


@dataclass
class PairsConfig:
    # random teacher pairs drawn (seeded) among all training items, clean and distorted
    teacher_pairs: int = 20000
    # how teachers are combined: `equal` weights, or `reliability`: on two axes, measured
    # without MOS (w2s/reliability.py): within content (accuracy on the known-order
    # distortion pairs) labels pairs of one content, across contents (agreement with the
    # full-reference consensus on variants and the others' consensus on clean clips)
    # labels pairs of two contents; a recycled student earns its weight on both, out of fold
    ensemble: str = "equal"
    # random pairs among distorted variants (any contents and families) labelled by the
    # consensus of the full-reference teachers (`fr:`); 0 or no such teacher: none
    fr_pairs: int = 20000
    # which variants an fr pair joins: `any` (two contents or one) or `within` (one content: variants
    # of different families and levels). PSNR-like metrics compare a variant with its own
    # reference, so their scale is only known to hold within one content (Huynh-Thu & Ghanbari,
    # "Scope of validity of PSNR", 2008); across contents the no-reference teachers' prior stays
    fr_scope: str = "any"
    # which pairs a recycled student labels as a teacher: `both` (within content and across, with
    # its out-of-fold weight on each axis) or `within` (one content only). With fr_scope: within a
    # student's view across contents comes from the weak teachers alone; voting with it there
    # echoes their view back with the student's errors, round after round
    student_votes: str = "both"
    # cross-content pairs drawn (seeded) to measure each teacher's across-contents reliability
    reliability_pairs: int = 5000
    # target probability that the milder of two distortion levels is better, for a
    # level gap of 1 and for a gap of 2 or more (level 0 is the clean clip)
    gap1_p: float = 0.85
    gap2_p: float = 0.98
    # drop teacher pairs whose combined probability is within this of 0.5 (no signal)
    min_confidence: float = 0.0


@dataclass
class HardCasesConfig:
    # out-of-fold folds over contents for mining (a head fits its own pairs perfectly)
    folds: int = 4
    # add the distortion pairs the out-of-fold student misorders
    distortion: bool = True
    # add this many teacher pairs where student and ensemble disagree most (gMAD-style)
    teacher: int = 2000
    # candidate teacher pairs scanned for disagreement
    candidates: int = 50000
    # candidates are pairs of two contents (what human-rated sets compare), and a pair of two
    # variants is labelled by the full-reference consensus when there is one (gMAD across contents)
    across_contents: bool = False


@dataclass
class ComparativeConfig:
    # (student.kind: comparative only; students/comparative.py) anchor clips of known score a
    # clip is compared with when scored: K forward passes of pairs per scored video
    anchors: int = 5
    # LoRA adapters (peft) on these projections of the language model: rank, alpha, module names
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_targets: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    # lower bounds on P(second better) for superior, better, similar (exclusive), worse
    # (exclusive); below the last: inferior (why these: students/comparative.py)
    thresholds: list = field(default_factory=lambda: [0.9, 0.6, 0.4, 0.1])
    # scale of the dynamic confidence term (the entropy at the level token, its weight ramped in
    # over the first tenth of the steps and following the model's uncertainty; 1: the paper's
    # schedule, 0: cross-entropy alone)
    confidence_weight: float = 1.0
    # training pairs per round, drawn (seeded) from the round's pairs; one optimiser step each
    pairs: int = 2000
    lr: float = 1.0e-4
    # frames shown per video (spread evenly over the clip's sampled frames)
    frames: int = 8


@dataclass
class StudentConfig:
    # `single`: the frozen backbone + calibration head below, one pass per video; `comparative`:
    # W2S-VQA's own student, a VLM (backbone must be vlm:PATH, a Qwen2-VL-class model) with LoRA
    # adapters that compares two videos, scored against anchors (student.comparative). It trains
    # beside the head (whose out-of-fold scores still teach the next round), is scored on the
    # held-out set as `comparative rK`, and is saved in round_XX/comparative/, which `w2s score`
    # and a `student:` teacher load
    kind: str = "single"
    comparative: ComparativeConfig = field(default_factory=ComparativeConfig)
    # frozen perception model (`w2s list backbones`): efficientnet_lite0 (the offline
    # default), timm:NAME (any timm image model), or vlm:PATH_OR_ID (a vision-language
    # model: its zero-shot level-word score is the base the calibration branch corrects), clip:PATH
    # (a local CLIP folder: its image embeddings, for `head: quality_prompts`), or a
    # list of plain/timm: names, e.g. [efficientnet_lite0, efficientnet_lite2]: their features side
    # by side, each backbone's block balanced in the head (students/multi.py; `w2s select-backbones`)
    backbone: str | list = "efficientnet_lite0"
    # options for the backbone, e.g. {weights: PATH} for timm:, {dtype: bfloat16, max_frames: 8} for vlm:;
    # for a list, per backbone: {efficientnet_lite2: {weights: PATH}}
    backbone_options: dict = field(default_factory=dict)
    # append frame-difference statistics (repeats, jumps, luma changes) to the features:
    # what lets a student rank stutter, jitter and flicker
    motion: bool = True
    # append how much the backbone's per-frame features change between frames (not for vlm:)
    temporal: bool = False
    # append 32 weight-free natural-scene statistics (the MSCN moments BRISQUE and NIQE build on):
    # most artefacts move them one consistent way, where the CNN's features have no prior
    nss: bool = False
    # the base the calibration branch corrects, besides a VLM's own score: none, or `teachers`
    # (the round-0 reliability-weighted ensemble of the configured no-reference teachers; the
    # student keeps their view where its pairs are silent, and runs them when it scores a file)
    prior: str = "none"
    # calibration branch: hidden width (0: linear) and dropout
    hidden: int = 128
    dropout: float = 0.1
    # which branch: `mlp` (the MLP above, a residual on base + prior) or `quality_prompts` (Q-CLIP,
    # students/quality_prompts.py; backbone clip:PATH only): five learnable quality-level prompts,
    # started at CLIP's text embeddings of "a video of excellent .. bad quality", and a shared
    # residual adapter of bottleneck `hidden`; the score is the softmax over prompt similarities
    # weighted 5..1. Only the prompts and the adapter train
    head: str = "mlp"

    def check_comparative(self) -> None:
        from students.comparative import check_thresholds
        from w2s.errors import W2SError

        c = self.comparative
        if not isinstance(self.backbone, str) or not self.backbone.startswith("vlm:"):
            raise ConfigError(f"student.kind: comparative needs student.backbone: vlm:PATH (a local Qwen2-VL-class "
                              f"model folder), got {self.backbone!r}")
        if c.anchors < 2 or c.lora_rank < 1 or c.pairs < 1 or c.frames < 1:
            raise ConfigError("student.comparative: anchors must be at least 2, lora_rank, pairs and frames at least 1")
        if not c.lora_targets or not all(isinstance(t, str) and t.isidentifier() for t in c.lora_targets):
            raise ConfigError(f"student.comparative.lora_targets {c.lora_targets!r} must be module names like q_proj")
        try:
            check_thresholds(c.thresholds)
        except W2SError as e:
            raise ConfigError(str(e)) from None

    def extras(self) -> dict:
        """The features appended to the backbone's (students.perception)."""
        return {"motion": self.motion, "temporal": self.temporal, "nss": self.nss}


@dataclass
class TrainConfig:
    # pairwise loss: fidelity | ranknet | margin
    loss: str = "fidelity"
    epochs: int = 20
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-2
    # weight of the entropy (confidence) regulariser; 0 turns it off
    confidence_weight: float = 0.0
    # each pair source's share of the loss, e.g. {teacher: 0.4, fr: 0.3, distortion: 0.2, hard: 0.1}
    # (hard: every hard_* source together); a source left out gets none, null: every pair
    # weighs the same, so a source's share is its share of the pairs
    shares: dict | None = None
    # save the training state (head, optimizer, schedule, random states; Accelerate's save_state)
    # every this many epochs in round_KK/train_state/, so a run killed mid-training resumes from
    # the last one with the same final weights; removed once the student is saved. 0: never
    checkpoint_every: int = 1


@dataclass
class EvalConfig:
    # held-out content: `samples:eval` (embedded, no content shared with samples:train),
    # a folder/CSV/JSONL of clean clips, or `none` to skip evaluation
    source: str = "samples:eval"
    # training families re-applied to held-out content; null: the training ladders
    in_distribution: dict | None = None
    # families never seen in training, with finer ladders: {family: ladder or null}
    ood: dict = field(
        default_factory=lambda: {
            "h265": [26, 31, 36, 41, 46, 51],
            "vp9": [24, 34, 44, 52, 58, 63],
            "motion_blur": [3, 5, 9, 13, 19, 27],
            "contrast": [0.85, 0.7, 0.55, 0.4, 0.3, 0.2],
        }
    )
    # score codec variants against the clean clip with VMAF (libvmaf in imageio-ffmpeg)
    vmaf: bool = True
    # use at most this many held-out videos (0: all)
    limit: int = 0
    # leave-one-family-out on the training pool (w2s/lofo.py): `none`, `first` (round 0
    # without each training family in turn) or `all` (every round); in report.md
    lofo: str = "none"


@dataclass
class RunConfig:
    name: str = "run"
    # runs are written to `<output_dir>/<name>/`
    output_dir: str = "runs"
    seed: int = 0
    rounds: int = 2
    # round-0 teachers: `pyiqa:METRIC`, `student:PATH`, ... (`w2s list teachers`); an entry
    # may be a mapping {name: NAME, option: value, ...} to pass options to the teacher. One
    # option is the label stage's, for slow teachers (a VLM): `variant_share: F` in (0, 1] scores
    # the distorted variants of only that fraction of the training pool's videos (chosen by a
    # stable seed of run seed, teacher and video; every clean clip is still scored, the eval set
    # in full) and abstains (NaN) on the rest; its reliability is then measured on those videos
    teachers: list = field(default_factory=lambda: ["pyiqa:piqe", "pyiqa:entropy"])
    # families whose variants only the teachers label (no distortion pairs): the student
    # learns the teachers' view of artefacts beyond the distortion pairs; {family: ladder or null}
    teacher_only: dict = field(default_factory=dict)
    # distortion families and their ladders (null: the family's default ladder)
    distortions: dict = field(
        default_factory=lambda: {f: None for f in ("blur", "noise", "jpeg", "resize", "darken", "brighten", "h264")}
    )
    pool: PoolConfig = field(default_factory=PoolConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    hard_cases: HardCasesConfig = field(default_factory=HardCasesConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def teacher_specs(self) -> list[tuple[str, dict]]:
        """(name, options) of each configured teacher."""
        specs = []
        for entry in self.teachers:
            if isinstance(entry, str):
                specs.append((entry, {}))
            elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
                specs.append((entry["name"], {k: v for k, v in entry.items() if k != "name"}))
            else:
                raise ConfigError(f"teachers: each entry is a name or a mapping with a `name` key, got {entry!r}")
        return specs

    def teacher_names(self) -> list[str]:
        return [name for name, _ in self.teacher_specs()]

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def validate(self) -> None:
        """Check values that types alone do not catch; names are checked by the runner."""
        if self.rounds < 1:
            raise ConfigError(f"rounds must be at least 1, got {self.rounds}")
        if not self.teachers:
            raise ConfigError("teachers is empty: name at least one (see `w2s list teachers`)")
        names = self.teacher_names()
        if len(set(names)) != len(names):
            raise ConfigError(f"teachers: a teacher is named twice in {names}")
        if self.student.prior not in ("none", "teachers"):
            raise ConfigError(f"student.prior must be 'none' or 'teachers', got {self.student.prior!r}")
        if self.student.head not in ("mlp", "quality_prompts"):
            raise ConfigError(f"student.head {self.student.head!r}: {suggest(self.student.head, ['mlp', 'quality_prompts'])}")
        if self.student.head == "quality_prompts" and not (
            isinstance(self.student.backbone, str) and self.student.backbone.startswith("clip:")
        ):
            raise ConfigError(f"student.head: quality_prompts compares CLIP image and text embeddings: it needs "
                              f"student.backbone: clip:PATH, got {self.student.backbone!r}")
        if self.student.kind not in ("single", "comparative"):
            raise ConfigError(f"student.kind must be 'single' or 'comparative', got {self.student.kind!r}")
        if self.student.kind == "comparative":
            self.student.check_comparative()
        if self.pairs.fr_scope not in ("any", "within"):
            raise ConfigError(f"pairs.fr_scope must be 'any' or 'within', got {self.pairs.fr_scope!r}")
        if self.pairs.student_votes not in ("both", "within"):
            raise ConfigError(f"pairs.student_votes must be 'both' or 'within', got {self.pairs.student_votes!r}")
        if self.pairs.ensemble not in ("equal", "reliability"):
            raise ConfigError(f"pairs.ensemble must be 'equal' or 'reliability', got {self.pairs.ensemble!r}")
        if self.train.loss not in ("fidelity", "ranknet", "margin"):
            raise ConfigError(f"train.loss {self.train.loss!r}: {suggest(self.train.loss, ['fidelity', 'ranknet', 'margin'])}")
        if not 0.5 <= self.pairs.gap1_p <= 1 or not 0.5 <= self.pairs.gap2_p <= 1:
            raise ConfigError("pairs.gap1_p and pairs.gap2_p must lie in [0.5, 1]")
        if self.hard_cases.folds < 2:
            raise ConfigError(f"hard_cases.folds must be at least 2, got {self.hard_cases.folds}")
        if self.eval.lofo not in ("none", "first", "all"):
            raise ConfigError(f"eval.lofo must be 'none', 'first' or 'all', got {self.eval.lofo!r}")
        if set(self.teacher_only) & set(self.distortions):
            raise ConfigError(f"teacher_only families {sorted(set(self.teacher_only) & set(self.distortions))} are "
                              "also training distortions: a family has distortion pairs or not")
        if set(self.teacher_only) & set(self.eval.ood):
            raise ConfigError(f"teacher_only families {sorted(set(self.teacher_only) & set(self.eval.ood))} are "
                              "eval.ood families: OOD families must be held out of training, teachers' labels too")
        if self.train.shares is not None:
            unknown = set(self.train.shares) - {"teacher", "fr", "distortion", "hard"}
            if unknown or any(not isinstance(v, (int, float)) or v < 0 for v in self.train.shares.values()):
                raise ConfigError(f"train.shares {self.train.shares!r}: keys among teacher, fr, distortion, hard; "
                                  "values non-negative numbers")
        if self.pool.label_workers < 0:
            raise ConfigError(f"pool.label_workers must be 0 (automatic) or more, got {self.pool.label_workers}")
        for key in ("epochs", "batch_size"):
            if getattr(self.train, key) < 1:
                raise ConfigError(f"train.{key} must be positive, got {getattr(self.train, key)}")
        if self.train.checkpoint_every < 0:
            raise ConfigError(f"train.checkpoint_every must be 0 (never) or a number of epochs, got {self.train.checkpoint_every}")
        if any(c in self.name for c in "/\\#@") or not self.name:
            raise ConfigError(f"name {self.name!r} must be a plain folder name")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, data: Any, where: str, source: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {where or 'the config'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {path!r}: {suggest(str(key), fields)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value or {}, path, source)
        else:
            kwargs[key] = _check_type(value, hint, path, source)
    return cls(**kwargs)


def _check_type(value: Any, hint: Any, path: str, source: str) -> Any:
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    for t in allowed:
        t = typing.get_origin(t) or t
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if t is float and isinstance(value, str):
            try:  # YAML 1.1 reads `1e-3` (no dot) as a string
                return float(value)
            except ValueError:
                pass
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if t in (str, bool, dict, list) and isinstance(value, t):
            return value
    names = " or ".join(getattr(typing.get_origin(t) or t, "__name__", str(t)) for t in allowed)
    raise ConfigError(f"{source}: {path} must be {names}, got {value!r}")


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run config; ``overrides`` are ``key.sub=value`` strings (YAML values)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    config = _build(RunConfig, data, "", str(path))
    config.validate()
    return config


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The resolved config a run recorded in ``run_dir/config.yaml``."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml in it)")
    config = _build(RunConfig, (yaml.safe_load(path.read_text()) or {}).get("config", {}), "", str(path))
    config.validate()
    return config
