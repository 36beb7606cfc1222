"""The run config's sections: every key, its type, default and help, here and only here.

A key's help is its field's ``metadata["help"]`` (``w2s config`` prints them all); a
key with a fixed set of words is a ``Literal``, which the loader checks; a number's
range is its field's ``metadata["valid"]`` (:mod:`w2s.config.ranges`). The checks
types alone cannot make (ranges, keys that depend on each other) are in
:meth:`RunConfig.validate`.

The defaults are the best measured recipe (``configs/quickstart.yaml``, README:
"Keeping what the teachers know" and "Real human opinion"); ``tests/test_recipe_defaults.py`` checks that every
shipped config keeps them or says why not.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from w2s.config.ranges import Valid, above, at_least, check_ranges, within
from w2s.core.errors import ConfigError

# the words a choice key takes; the plugin tables that implement them are checked against these
# by tests/test_config.py (students/heads.py HEAD_KINDS, w2s/run/losses.py LOSSES)
HeadKind = Literal["mlp", "quality_prompts"]
LossName = Literal["fidelity", "ranknet", "margin"]


def opt(default: Any, help: str, valid: Valid | None = None) -> Any:
    """A config key: its default (a dict or list is copied for each config), its help and, for a number,
    the values it may take (:mod:`w2s.config.ranges`; checked when the config is read)."""
    metadata = {"help": help, **({"valid": valid} if valid else {})}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type) -> Any:
    """A nested section; its help is its class's docstring."""
    return field(default_factory=cls, metadata={"help": cls.__doc__})


@dataclass
class PoolConfig:
    """The training pool: which videos, and how their frames are read and labelled."""

    source: str = opt("samples:train", "folder (recursive), .csv (column `path`) or .jsonl (key `path`) of videos and "
                      "images, with an optional `id`; paths in a list file resolve against the list file. "
                      "`samples:train` builds the embedded real-content pool into the run dir")
    max_side: int = opt(320, "frames are downscaled (antialiased) so the longer side is at most this; 0 keeps them",
                      # video encoders refuse frames under 16 pixels (x265), and quality is unreadable there
                      at_least(16, zero="keeps them"))
    sampler: dict = opt({"name": "uniform", "num_frames": 4},
                        "frame sampler: {name: uniform, num_frames: N}, {name: fps, fps: 1, max_frames: N}, "
                        "{name: frame_difference, num_frames: N} (one frame per equal segment, the one that changes "
                        "most; costs a first decode pass), or {name: fragments, num_frames: N, grid: 7, patch: 32, "
                        "seed: 0} (uniform frames made grid x grid mosaics of native-resolution patches, "
                        "(grid*patch)^2 pixels; max_side does not apply)")
    limit: int = opt(0, "use at most this many pool videos (0: all); the first by id, for quick trials",
                     at_least(1, zero="all"))
    label_workers: int = opt(0, "items labelled at once by worker threads, each on its share of torch's threads; 0: "
                             "two on a CPU with two threads or more, one on a GPU or with a VLM teacher or backbone",
                             at_least(1, zero="automatic"))


@dataclass
class PairsConfig:
    """Which pairs are drawn, and how the teachers' votes on them are combined."""

    teacher_pairs: int = opt(60000, "random teacher pairs drawn (seeded) among all training items, clean and distorted",
                             at_least(0))
    ensemble: Literal["equal", "reliability"] = opt(
        "reliability", "how teachers are combined: `equal` weights, or `reliability`: on two axes, measured without MOS "
        "(w2s/run/reliability.py): within content (accuracy on the known-order distortion pairs) labels pairs of one "
        "content, across contents (agreement with the full-reference consensus on variants and the others' consensus "
        "on clean clips) labels pairs of two contents; a recycled student earns its weight on both, out of fold")
    clean_pairs: int = opt(20000, "random pairs of two clean clips (two contents), labelled by the teachers like "
                           "teacher_pairs; teacher_pairs draws among all items, most of them variants, so a pool of "
                           "N contents and V variants each gives clean pairs about 1/(V+1)^2 of its draws", at_least(0))
    fr_pairs: int = opt(20000, "random pairs among distorted variants (any contents and families) labelled by the "
                        "consensus of the full-reference teachers (`fr:`); 0 or no such teacher: none", at_least(0))
    fr_scope: Literal["any", "within"] = opt(
        "within", "which variants an fr pair joins: `any` (two contents or one) or `within` (one content: variants of "
        "different families and levels). PSNR-like metrics compare a variant with its own reference, so their scale is "
        "only known to hold within one content (Huynh-Thu & Ghanbari, \"Scope of validity of PSNR\", 2008); across "
        "contents the no-reference teachers' prior stays")
    student_votes: Literal["both", "within"] = opt(
        "within", "which pairs a recycled student labels as a teacher: `both` (within content and across, with its "
        "out-of-fold weight on each axis) or `within` (one content only). With fr_scope: within a student's view across "
        "contents comes from the weak teachers alone; voting with it there echoes their view back with the student's "
        "errors, round after round")
    reliability_pairs: int = opt(5000, "cross-content pairs drawn (seeded) to measure each teacher's across-contents "
                                 "reliability", at_least(0))
    gap1_p: float = opt(0.85, "target probability that the milder of two distortion levels is better, for a level gap "
                        "of 1 (level 0 is the clean clip); in [0.5, 1]", within(0.5, 1))
    gap2_p: float = opt(0.98, "the same for a level gap of 2 or more; in [0.5, 1]", within(0.5, 1))
    min_confidence: float = opt(0.0, "drop teacher pairs whose combined probability is within this of 0.5 (no signal)",
                                 within(0, 0.5, open_high=True))


@dataclass
class HardCasesConfig:
    """Pairs the previous round's student gets wrong, mined out of fold (rounds after the first)."""

    folds: int = opt(4, "out-of-fold folds over contents for mining (a head fits its own pairs perfectly); at least 2",
                     at_least(2))
    distortion: bool = opt(True, "add the distortion pairs the out-of-fold student misorders")
    teacher: int = opt(2000, "add this many teacher pairs where student and ensemble disagree most (gMAD-style)",
                       at_least(0))
    candidates: int = opt(50000, "candidate teacher pairs scanned for disagreement", at_least(0))
    across_contents: bool = opt(False, "candidates are pairs of two contents (what human-rated sets compare), and a "
                                "pair of two variants is labelled by the full-reference consensus when there is one "
                                "(gMAD across contents)")


@dataclass
class ComparativeConfig:
    """W2S-VQA's comparative VLM student (student.kind: comparative only; students/comparative.py)."""

    anchors: int = opt(5, "anchor clips of known score a clip is compared with when scored: K forward passes of "
                       "pairs per scored video; at least 2", at_least(2))
    lora_rank: int = opt(8, "rank of the LoRA adapters (peft) on the language model's projections", at_least(1))
    lora_alpha: float = opt(16.0, "alpha (scale) of the LoRA adapters", above(0))
    lora_targets: list = opt(["q_proj", "k_proj", "v_proj", "o_proj"], "module names of the projections the LoRA "
                             "adapters wrap")
    thresholds: list = opt([0.9, 0.6, 0.4, 0.1], "lower bounds on P(second better) for superior, better, similar "
                           "(exclusive), worse (exclusive); below the last: inferior (why these: "
                           "students/comparative.py)")
    confidence_weight: float = opt(1.0, "scale of the dynamic confidence term (the entropy at the level token, its "
                                   "weight ramped in over the first tenth of the steps and following the model's "
                                   "uncertainty; 1: the paper's schedule, 0: cross-entropy alone)", at_least(0))
    pairs: int = opt(2000, "training pairs per round, drawn (seeded) from the round's pairs; one optimiser step each",
                     at_least(1))
    lr: float = opt(1.0e-4, "learning rate of the LoRA adapters", above(0))
    frames: int = opt(8, "frames shown per video (spread evenly over the clip's sampled frames)", at_least(1))


@dataclass
class StudentConfig:
    """The student: a frozen perception backbone and the calibration branch that trains on it."""

    kind: Literal["single", "comparative"] = opt(
        "single", "`single`: the frozen backbone + calibration head below, one pass per video; `comparative`: W2S-VQA's "
        "own student, a VLM (backbone must be vlm:PATH, a Qwen2-VL-class model) with LoRA adapters that compares two "
        "videos, scored against anchors (student.comparative). It trains beside the head (whose out-of-fold scores "
        "still teach the next round), is scored on the held-out set as `comparative rK`, and is saved in "
        "round_XX/comparative/, which `w2s score` and a `student:` teacher load")
    comparative: ComparativeConfig = section(ComparativeConfig)
    backbone: str | list = opt(
        "efficientnet_lite0", "frozen perception model (`w2s list backbones`): efficientnet_lite0 (the offline "
        "default), timm:NAME (any timm image model), or vlm:PATH_OR_ID (a vision-language model: its zero-shot "
        "level-word score is the base the calibration branch corrects), clip:PATH (a local CLIP folder: its image "
        "embeddings, for `head: quality_prompts`), or a list of plain/timm: names, e.g. [efficientnet_lite0, "
        "efficientnet_lite2]: their features side by side, each backbone's block balanced in the head "
        "(students/multi.py; `w2s select-backbones`)")
    backbone_options: dict = opt({}, "options for the backbone, e.g. {weights: PATH} for timm:, {dtype: bfloat16, "
                                 "max_frames: 8} for vlm:; for a list, per backbone: {efficientnet_lite2: "
                                 "{weights: PATH}}")
    motion: bool = opt(True, "append 12 frame-difference statistics (repeats, jumps, luma changes) to the features: "
                       "what lets a student rank stutter, jitter and flicker, which a per-frame image model averages "
                       "away")
    temporal: bool = opt(False, "append how much the backbone's per-frame features change between frames (not for "
                         "vlm:)")
    nss: bool = opt(False, "append 32 weight-free natural-scene statistics (the MSCN moments BRISQUE and NIQE build "
                    "on): most artefacts move them one consistent way, where the CNN's features have no prior")
    prior: Literal["none", "teachers"] = opt(
        "teachers", "the base the calibration branch corrects, besides a VLM's own score: none, or `teachers` (the round-0 "
        "reliability-weighted ensemble of the configured no-reference teachers; the student keeps their view where "
        "its pairs are silent, and runs them when it scores a file)")
    standalone: bool = opt(
        False, "with prior: teachers, after each round distil prior + branch into one branch of the same shape on the "
        "student's own features (the project's fidelity loss on pairs of pool items, the prior student's score "
        "differences as targets), saved as round_XX/student (scores with no teacher; row `standalone rK` of the "
        "evaluation) with the prior student beside it in round_XX/student_prior (`w2s score --prior`, "
        "`w2s.load(path, prior=True)`). Off: on the quickstart the distilled student ranks VMAF at 0.54 against the "
        "prior student's 0.90 (README, students)")
    hidden: int = opt(128, "calibration branch: hidden width (0: linear); for head: quality_prompts, the shared "
                      "adapter's bottleneck", at_least(0))
    dropout: float = opt(0.1, "calibration branch: dropout", within(0, 1, open_high=True))
    head: HeadKind = opt(
        "mlp", "which branch: `mlp` (the MLP above, a residual on base + prior) or `quality_prompts` (Q-CLIP, "
        "students/quality_prompts.py; backbone clip:PATH only): five learnable quality-level prompts, started at "
        "CLIP's text embeddings of \"a video of excellent .. bad quality\", and a shared residual adapter of "
        "bottleneck `hidden`; the score is the softmax over prompt similarities weighted 5..1. Only the prompts and "
        "the adapter train")

    def check_comparative(self) -> None:
        from students.comparative import check_thresholds
        from w2s.core.errors import W2SError

        c = self.comparative
        if not isinstance(self.backbone, str) or not self.backbone.startswith("vlm:"):
            raise ConfigError(f"student.kind: comparative needs student.backbone: vlm:PATH (a local Qwen2-VL-class "
                              f"model folder), got {self.backbone!r}")
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
    """How each round's branch learns its pairs (AdamW, one-cycle schedule, through Accelerate)."""

    loss: LossName = opt("fidelity", "pairwise loss (w2s/run/losses.py): `fidelity` (bounded in [0, 1] and zero at "
                         "the target: a confident wrong pair costs at most 1), `ranknet` (logistic cross-entropy) or "
                         "`margin` (hinge on the score gap; pairs at 0.5 ignored)")
    epochs: int = opt(20, "passes over the round's pairs; at least 1", at_least(1))
    batch_size: int = opt(512, "pairs per optimiser step; at least 1", at_least(1))
    lr: float = opt(1e-3, "peak learning rate of the one-cycle schedule", above(0))
    weight_decay: float = opt(1e-2, "AdamW weight decay", at_least(0))
    confidence_weight: float = opt(0.0, "weight of the entropy (confidence) regulariser; 0 turns it off", at_least(0))
    shares: dict | None = opt(None, "each pair source's share of the loss, e.g. {teacher: 0.4, fr: 0.3, distortion: "
                              "0.2, hard: 0.1} (hard: every hard_* source together); a source left out gets none, "
                              "null: every pair weighs the same, so a source's share is its share of the pairs")
    checkpoint_every: int = opt(1, "save the training state (head, optimizer, schedule, random states; Accelerate's "
                                "save_state) every this many epochs in round_KK/train_state/, so a run killed "
                                "mid-training resumes from the last one with the same final weights; removed once the "
                                "student is saved. 0: never", at_least(1, zero="never"))


@dataclass
class EvalConfig:
    """The held-out evaluation: content never trained on, distorted by families seen and unseen."""

    source: str = opt("samples:eval", "held-out content: `samples:eval` (embedded, no content shared with "
                      "samples:train), a folder/CSV/JSONL of clean clips, or `none` to skip evaluation")
    in_distribution: dict | None = opt(None, "training families re-applied to held-out content; null: the training "
                                       "ladders")
    ood: dict = opt({"h265": [26, 31, 36, 41, 46, 51], "vp9": [24, 34, 44, 52, 58, 63],
                     "motion_blur": [3, 5, 9, 13, 19, 27], "contrast": [0.85, 0.7, 0.55, 0.4, 0.3, 0.2]},
                    "families never seen in training, with finer ladders: {family: ladder or null}")
    vmaf: bool = opt(True, "score codec variants against the clean clip with VMAF (libvmaf in imageio-ffmpeg)")
    limit: int = opt(0, "use at most this many held-out videos (0: all)", at_least(1, zero="all"))
    lofo: Literal["none", "first", "all"] = opt(
        "none", "leave-one-family-out on the training pool (w2s/eval/lofo.py): `none`, `first` (round 0 without each "
        "training family in turn) or `all` (every round); in report.md. It copies each family's features into "
        "memory: leave it off for a very large pool")


TEACHERS_HELP = (
    "round-0 teachers: `pyiqa:METRIC`, `fr:METRIC`, `table:PATH`, `vlm:PATH_OR_ID`, `student:PATH`, ... (`w2s list "
    "teachers`); an entry may be a mapping {name: NAME, option: value, ...} to pass options to the teacher. One option "
    "is the label stage's, for slow teachers (a VLM): `variant_share: F` in (0, 1] scores the distorted variants of "
    "only that fraction of the training pool's videos (chosen by a stable seed of run seed, teacher and video; every "
    "clean clip is still scored, the eval set in full) and abstains (NaN) on the rest; its reliability is then "
    "measured on those videos")


@dataclass
class RunConfig:
    """A weak-to-strong run: teachers, distortions and the sections below."""

    name: str = opt("run", "the run's name: its folder under output_dir (a plain folder name)")
    output_dir: str = opt("runs", "runs are written to `<output_dir>/<name>/`")
    seed: int = opt(0, "seeds every random draw (distortion parameters, pairs, folds, training)", at_least(0))
    rounds: int = opt(2, "weak-to-strong rounds: round 0 learns from the teachers, each later round also from the "
                      "previous round's student and its hard cases; raise it and rerun to continue a finished run", at_least(1))
    teachers: list = opt(["pyiqa:piqe", "pyiqa:entropy", "niqe:pristine", "classic:brisque", "classic:sharpness",
                          "fr:psnr", "fr:gmsd", "fr:nlpd"], TEACHERS_HELP)
    teacher_only: dict = opt({}, "families whose variants only the teachers label (no distortion pairs): the student "
                             "learns the teachers' view of artefacts beyond the distortion pairs; {family: ladder or "
                             "null}")
    distortions: dict = opt({f: None for f in ("blur", "noise", "jpeg", "resize", "darken", "brighten", "h264")},
                            "distortion families (`w2s list distortions`) and their ladders, mildest first (null: "
                            "the family's default ladder)")
    pool: PoolConfig = section(PoolConfig)
    pairs: PairsConfig = section(PairsConfig)
    hard_cases: HardCasesConfig = section(HardCasesConfig)
    student: StudentConfig = section(StudentConfig)
    train: TrainConfig = section(TrainConfig)
    eval: EvalConfig = section(EvalConfig)

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

    def training_families(self) -> dict:
        """Every family the training pool is labelled with: the distortions (pairs of known order),
        then the teacher-only ones (labelled by the teachers alone); {family: ladder or None}."""
        return {**self.distortions, **self.teacher_only}

    def eval_families(self) -> dict:
        """Every family of the held-out set: the in-distribution ones (the training distortions
        unless ``eval.in_distribution`` names others), then the OOD ones."""
        return {**self.id_families(), **self.eval.ood}

    def id_families(self) -> dict:
        return self.eval.in_distribution or self.distortions

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def validate(self) -> None:
        """Check values that types alone do not catch (the loader checks types and choice words): every
        number inside its field's range, then the keys that depend on each other; names are checked by
        the runner, ladders and the sampler by :func:`w2s.config.ranges.check_plugin_values`."""
        check_ranges(self)
        if not self.teachers:
            raise ConfigError("teachers is empty: name at least one (see `w2s list teachers`)")
        names = self.teacher_names()
        if len(set(names)) != len(names):
            raise ConfigError(f"teachers: a teacher is named twice in {names}")
        if self.student.head == "quality_prompts" and not (
            isinstance(self.student.backbone, str) and self.student.backbone.startswith("clip:")
        ):
            raise ConfigError(f"student.head: quality_prompts compares CLIP image and text embeddings: it needs "
                              f"student.backbone: clip:PATH, got {self.student.backbone!r}")
        if self.student.kind == "comparative":
            self.student.check_comparative()
        self._validate_families()
        if self.train.shares is not None:
            unknown = set(self.train.shares) - {"teacher", "fr", "distortion", "hard"}
            if unknown or any(not isinstance(v, (int, float)) or v < 0 for v in self.train.shares.values()):
                raise ConfigError(f"train.shares {self.train.shares!r}: keys among teacher, fr, distortion, hard; "
                                  "values non-negative numbers")
        if any(c in self.name for c in "/\\#@") or not self.name:
            raise ConfigError(f"name {self.name!r} must be a plain folder name")

    def _validate_families(self) -> None:
        if set(self.teacher_only) & set(self.distortions):
            raise ConfigError(f"teacher_only families {sorted(set(self.teacher_only) & set(self.distortions))} are "
                              "also training distortions: a family has distortion pairs or not")
        if set(self.teacher_only) & set(self.eval.ood):
            raise ConfigError(f"teacher_only families {sorted(set(self.teacher_only) & set(self.eval.ood))} are "
                              "eval.ood families: OOD families must be held out of training, teachers' labels too")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
