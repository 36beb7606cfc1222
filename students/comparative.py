"""W2S-VQA's own student: a vision-language model that compares two videos (``student.kind: comparative``).

Where the single-pass students score one clip, this one is shown two clips in one
conversation ("The first video: <video> The second video: <video>"), asked how
the second compares with the first, and answers with one of five relative
levels after the pre-filled "The quality of the second video is":

    superior / better / similar / worse / inferior

**Training** (:mod:`w2s.run.train_comparative`): each pseudo-label pair ``(a, b, p)``, ``p`` =
P(a better than b), is shown as (first a, second b) with the level of ``q = 1 - p``
(P(second better)) under :data:`DEFAULT_THRESHOLDS` as the answer. The loss mixes the
cross-entropy on the level token with the paper's *dynamic confidence* term: the entropy
of the model's next-token distribution at the supervised positions, with a weight that
ramps in over the first tenth of the steps and follows how unsure the model is
(:func:`comparative_loss`). The VLM is frozen; LoRA adapters (``peft``) on the
language model's attention projections are what trains.

**Scoring**: a clip is compared with K anchor clips of known score, each the
*first* video of one pair (K forward passes). The five level probabilities give
a soft preference P(clip better than anchor j) (:data:`LEVEL_VALUES`), and a
Thurstone Case V MAP fit (:func:`thurstone_map`) turns the K preferences into a
score on the anchors' scale; ``w2s score`` maps the anchors' lowest..highest
score to 0..100.

**Folder** (all safetensors + JSON, nothing pickled): ``config.json`` (``kind:
comparative``, the base model, options, anchors' scores, thresholds, meta),
``adapter_model.safetensors`` + ``adapter_config.json`` (peft's LoRA adapter),
``anchors.safetensors`` (each anchor's frames as uint8, so the folder is
self-contained). A folder with any of them missing fails at once, naming the file.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy.optimize import minimize_scalar
from scipy.special import log_ndtr

from w2s.core.clip import Clip
from w2s.core.errors import MissingWeightsError, W2SError

log = logging.getLogger(__name__)

KIND = "comparative"
CONFIG_NAME = "config.json"
ADAPTER_NAME = "adapter_model.safetensors"
ADAPTER_CONFIG_NAME = "adapter_config.json"
ANCHORS_NAME = "anchors.safetensors"
FILES = (CONFIG_NAME, ADAPTER_NAME, ADAPTER_CONFIG_NAME, ANCHORS_NAME)

# the second video relative to the first, best first
LEVELS = ("superior", "better", "similar", "worse", "inferior")
# P(second better) each level stands for: equally spaced, as Q-Align's 5..1 weights
LEVEL_VALUES = (1.0, 0.75, 0.5, 0.25, 0.0)
# Lower bounds on q = P(second better) for superior, better, similar (exclusive), worse (exclusive);
# below the last: inferior. Chosen against the pairs' own probabilities: a distortion pair one
# level apart has p = pairs.gap1_p = 0.85 (q = 0.15 or 0.85: better/worse) and two levels apart
# p = gap2_p = 0.98 (superior/inferior); a teacher pair the ensemble leaves within 0.1 of 0.5 is
# "similar", so the model is not taught an order its teachers do not see.
DEFAULT_THRESHOLDS = (0.9, 0.6, 0.4, 0.1)

QUESTION = "Compared with the first video, how is the quality of the second video?"
PREFILL = "The quality of the second video is"
INTRO = ("The first video:", " The second video:")


def level_of(q: float, thresholds=DEFAULT_THRESHOLDS) -> int:
    """The level index (0 superior .. 4 inferior) of ``q`` = P(second better)."""
    superior, better, similar, worse = thresholds
    if q >= superior:
        return 0
    if q >= better:
        return 1
    if q > similar:
        return 2
    if q > worse:
        return 3
    return 4


def check_thresholds(thresholds) -> None:
    t = list(thresholds)
    if len(t) != 4 or not all(isinstance(v, (int, float)) for v in t) or not (1 >= t[0] >= t[1] > t[2] >= t[3] >= 0):
        raise W2SError(f"student.comparative.thresholds {thresholds!r} must be four numbers in [0, 1], "
                       "superior >= better > similar >= worse (lower bounds on P(second better))")


def preference(level_probs: torch.Tensor) -> float:
    """P(second better) from the five level probabilities: their expectation of :data:`LEVEL_VALUES`."""
    return float((level_probs.double() * torch.tensor(LEVEL_VALUES, dtype=torch.float64)).sum())


def masked_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean entropy of the next-token distribution over the supervised positions only.

    ``logits`` (B, L, V) and ``labels`` (B, L) as a causal LM takes them: position t's
    logits predict token t+1, and ``labels == -100`` marks positions with no target.
    The public W2S-VQA code averages the entropy over every position, so the prompt's
    and the video tokens' entropies (hundreds of them, not trained towards anything)
    swamp the one position that names the level; here they are masked out.
    """
    logits, labels = logits[:, :-1], labels[:, 1:]
    mask = labels != -100
    if not mask.any():
        raise W2SError("no supervised position in the batch (every label is -100)")
    logp = torch.log_softmax(logits[mask].float(), dim=-1)
    return -(logp.exp() * logp).sum(-1).mean()


WARMUP = 0.1  # the share of training steps over which the confidence term ramps in


def dynamic_weight(ce: float, entropy: float, step_frac: float, scale: float = 1.0, warmup: float = WARMUP) -> float:
    """The weight of the confidence term at ``step_frac`` (steps done / steps in all), the paper's schedule:
    ``scale * min(1, step_frac / warmup) * sigmoid((entropy - ce) / T)``, with the temperature ``T``
    falling linearly from 0.5 to 0.1 over the warmup. Off at the start (the adapters first learn
    the teachers' levels); later the term weighs more the less sure the model is relative to how
    well it fits its labels: a pair it already fits but answers vaguely is pushed to commit."""
    ramp = min(1.0, step_frac / warmup) if warmup > 0 else 1.0
    temperature = 0.5 + (0.1 - 0.5) * ramp
    return scale * ramp / (1.0 + math.exp(-(entropy - ce) / temperature))


def comparative_loss(logits: torch.Tensor, labels: torch.Tensor, confidence_weight: float,
                     step_frac: float = 1.0) -> tuple[torch.Tensor, ...]:
    """(loss, cross-entropy, entropy, weight): ``(1 - w) * CE + w * H``, the cross-entropy on the level
    token and the masked entropy (:func:`masked_entropy`) mixed by the dynamic weight ``w``
    (:func:`dynamic_weight`, scaled by ``confidence_weight``; 0 turns the term off)."""
    shift_logits, shift_labels = logits[:, :-1].float(), labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1),
                                           ignore_index=-100)
    entropy = masked_entropy(logits, labels)
    weight = dynamic_weight(ce.item(), entropy.item(), step_frac, confidence_weight) if confidence_weight else 0.0
    return (1.0 - weight) * ce + weight * entropy, ce, entropy, weight


def thurstone_map(prefs, anchor_scores, prior_mean: float | None = None, prior_std: float | None = None) -> float:
    """MAP score of a clip from its soft preferences ``prefs[j]`` = P(clip better than anchor j).

    Thurstone Case V in units of the anchors' spread: with ``z_j`` the anchors' standardised
    scores, maximise ``sum_j q_j log Phi(z - z_j) + (1 - q_j) log(1 - Phi(z - z_j)) - z^2 / 2``
    (the last term: a Gaussian prior with the anchors' mean and standard deviation, which keeps
    the score finite when the clip beats or loses to every anchor). Concave in ``z``, so a
    bounded 1-D search finds the one maximum. Returns the score on the anchors' scale.
    """
    q = np.clip(np.asarray(prefs, dtype=np.float64), 0.0, 1.0)
    s = np.asarray(anchor_scores, dtype=np.float64)
    if q.shape != s.shape or q.ndim != 1 or len(s) < 2:
        raise W2SError(f"thurstone_map: need one preference per anchor and at least 2 anchors, got {q.shape} and {s.shape}")
    mu = float(s.mean()) if prior_mean is None else prior_mean
    sd = float(s.std()) if prior_std is None else prior_std
    sd = sd if sd > 0 else 1.0
    z_anchor = (s - mu) / sd

    def negative_log_posterior(z: float) -> float:
        d = z - z_anchor
        return -float((q * log_ndtr(d) + (1 - q) * log_ndtr(-d)).sum()) + 0.5 * z * z

    bound = float(np.abs(z_anchor).max()) + 10.0
    z = minimize_scalar(negative_log_posterior, bounds=(-bound, bound), method="bounded",
                        options={"xatol": 1e-9}).x
    return mu + sd * float(z)


def frames_uint8(clip: Clip, frames: int) -> torch.Tensor:
    """(T, H, W, 3) uint8: at most ``frames`` of the clip's frames, spread evenly."""
    x = clip.frames
    if x.shape[0] > frames:
        x = x[torch.linspace(0, x.shape[0] - 1, frames).round().long()]
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def check_folder(path: str | Path) -> dict:
    """config.json of a saved comparative student, after checking every file it needs is there."""
    path = Path(path)
    for name in FILES:
        if not (path / name).is_file():
            raise MissingWeightsError(
                f"{path / name} is missing: a comparative student folder holds {', '.join(FILES)} "
                "(a run writes them to runs/NAME/round_XX/comparative/)"
            )
    config = json.loads((path / CONFIG_NAME).read_text())
    if config.get("kind") != KIND:
        raise W2SError(f"{path / CONFIG_NAME} has kind {config.get('kind')!r}, not {KIND!r}")
    from students.vlm import check_model_ref

    check_model_ref(config["base_model"], "comparative student base model")
    return config


def lora_config(rank: int, alpha: float, targets: list[str]):
    """peft LoRA on the language model's ``targets`` projections only (not the vision tower's)."""
    from peft import LoraConfig

    names = "|".join(map(str, targets))
    return LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0,
                      target_modules=rf".*language_model.*\.({names})")


class ComparativeVLM:
    """A VLM (through :class:`students.vlm.VisionLanguageModel`'s loading) with LoRA adapters,
    asked the comparison question about two clips; :meth:`pair_inputs` builds one pair's batch."""

    def __init__(self, base_model: str, device: str = "cpu", dtype: str = "auto", adapter: str | Path | None = None,
                 lora: dict | None = None, trust_remote_code: bool = False):
        from peft import PeftModel, get_peft_model

        from students.vlm import VisionLanguageModel

        vlm = VisionLanguageModel(base_model, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
        if not vlm.has_video:
            raise W2SError(f"{vlm.name}: its processor has no video support; the comparative student shows two "
                           "videos in one conversation (use a Qwen2-VL-class model)")
        self.name, self.device, self.dtype = vlm.name, device, vlm.dtype
        self.processor, self.tokenizer = vlm.processor, vlm.tokenizer
        base = vlm.model
        if adapter is not None:
            self.model = PeftModel.from_pretrained(base, str(adapter), is_trainable=False)
        else:
            self.model = get_peft_model(base, lora_config(**(lora or {})))
        self.model.to(device)
        self.level_ids = self._level_ids()

    def _level_ids(self) -> list[int]:
        from students.vlm import level_token_ids

        ids = level_token_ids(self.tokenizer, PREFILL, LEVELS)
        if len(set(ids)) < len(ids):
            raise W2SError(f"{self.name}: the tokenizer gives two comparison levels {LEVELS} the same first token; "
                           "the comparative student cannot tell them apart with this model")
        return ids

    def merge(self) -> ComparativeVLM:
        """Fold the adapters into the weights (for scoring only: a LoRA layer then costs nothing extra)."""
        self.model = self.model.merge_and_unload()
        self.model.eval()
        return self

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def pair_inputs(self, first: torch.Tensor, second: torch.Tensor, fps: tuple[float, float] = (1.0, 1.0),
                    target: int | None = None) -> dict:
        """The batch for one pair of (T, H, W, 3) uint8 videos; with ``target`` (a level index) the level's
        token is appended and ``labels`` supervise it alone (-100 elsewhere)."""
        content = [{"type": "text", "text": INTRO[0]}, {"type": "video"}, {"type": "text", "text": INTRO[1]},
                   {"type": "video"}, {"type": "text", "text": QUESTION}]
        messages = [{"role": "user", "content": content}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        videos = [v.numpy() for v in (first, second)]
        metadata = [{"total_num_frames": v.shape[0], "fps": float(f), "frames_indices": list(range(v.shape[0]))}
                    for v, f in zip(videos, fps)]
        batch = self.processor(text=[text + PREFILL], videos=videos, video_metadata=metadata, do_sample_frames=False,
                               return_tensors="pt")
        out = {}
        length = batch["input_ids"].shape
        for key, value in batch.items():
            if not torch.is_tensor(value):
                continue
            if target is not None and value.shape == length:  # per-token tensors grow by the target token
                extra = {"input_ids": self.level_ids[target], "attention_mask": 1}.get(key, 0)
                value = torch.cat([value, torch.full((1, 1), extra, dtype=value.dtype)], dim=1)
            value = value.to(self.device)
            out[key] = value.to(self.dtype) if value.is_floating_point() else value
        if target is not None:
            labels = torch.full_like(out["input_ids"], -100)
            labels[0, -1] = self.level_ids[target]
            out["labels"] = labels
        return out

    def level_probs(self, first: torch.Tensor, second: torch.Tensor, fps=(1.0, 1.0)) -> torch.Tensor:
        """P(superior) .. P(inferior) of the second video against the first: float64 on the CPU."""
        self.model.eval()
        with torch.inference_mode():
            logits = self.model(**self.pair_inputs(first, second, fps)).logits[0, -1].double()
        return torch.softmax(logits[self.level_ids], dim=0).cpu()


class ComparativeStudent:
    """A trained comparative student: the LoRA-adapted VLM and its anchors; ``score(clip)`` is higher-better.

    Offers what :func:`w2s.api.load` and the ``student:`` teacher read from a student
    (``backbone_name``, ``backbone_options``, ``extras``, ``prior``, ``meta``, ``device``).
    """

    kind = KIND

    def __init__(self, config: dict, anchor_frames: list[torch.Tensor], model: ComparativeVLM | None = None,
                 adapter_dir: Path | None = None):
        self.config = config
        self.anchor_frames = anchor_frames
        self.anchor_scores = np.asarray(config["anchors"]["scores"], dtype=np.float64)
        self.anchor_fps = config["anchors"]["fps"]
        self.frames = int(config["frames"])
        self.backbone_name = f"vlm:{config['base_model']}"
        self.backbone_options = {"dtype": config.get("dtype", "auto")}
        self.extras: dict = {}
        self.prior = None
        self.meta = dict(config.get("meta", {}))
        self.device = "cpu"
        self._model = model
        self._adapter_dir = adapter_dir

    def place(self, device: str) -> None:
        """Score on ``device`` (the VLM is loaded there on first use)."""
        if self._model is not None and device != self.device:
            self._model.model.to(device)
            self._model.device = device
        self.device = device

    @property
    def model(self) -> ComparativeVLM:
        if self._model is None:
            self._model = ComparativeVLM(self.config["base_model"], device=self.device,
                                         dtype=self.backbone_options.get("dtype", "auto"),
                                         adapter=self._adapter_dir).merge()
        return self._model

    def preferences(self, clip: Clip) -> np.ndarray:
        """P(clip better than anchor j) for each anchor: one forward pass each, the anchor shown first."""
        x = frames_uint8(clip, self.frames)
        return np.array([preference(self.model.level_probs(a, x, (fps, float(clip.fps))))
                         for a, fps in zip(self.anchor_frames, self.anchor_fps)])

    def score(self, clip: Clip) -> float:
        return thurstone_map(self.preferences(clip), self.anchor_scores)

    def save_pretrained(self, path: str | Path) -> None:
        """Write the folder atomically (a temp folder renamed when complete): adapter, anchors, config."""
        from w2s.core.io import replacing_folder

        with replacing_folder(path) as tmp:
            self.model.model.save_pretrained(str(tmp), safe_serialization=True)
            (tmp / "README.md").unlink(missing_ok=True)  # peft's blank model card template
            save_file({f"anchor_{j}": f.contiguous() for j, f in enumerate(self.anchor_frames)}, str(tmp / ANCHORS_NAME))
            (tmp / CONFIG_NAME).write_text(json.dumps(self.config, indent=2))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> ComparativeStudent:
        """The saved student; the VLM is loaded on first use (on ``device``: :meth:`place`)."""
        path = Path(path)
        config = check_folder(path)
        tensors = load_file(str(path / ANCHORS_NAME))
        anchors = [tensors[f"anchor_{j}"] for j in range(len(config["anchors"]["scores"]))]
        return cls(config, anchors, adapter_dir=path)


def is_comparative(path: str | Path) -> bool:
    """Whether the student folder ``path`` holds a comparative student (its config.json's ``kind``)."""
    file = Path(path) / CONFIG_NAME
    try:
        return json.loads(file.read_text()).get("kind") == KIND
    except (OSError, ValueError):
        return False


def scale_quantiles(anchor_scores) -> list[float]:
    """The 0-100 scale of ``w2s score`` (:func:`w2s.score.scale_100`): the anchors' lowest score
    at 0, their highest at 100, linear between (clipped outside)."""
    lo, hi = float(np.min(anchor_scores)), float(np.max(anchor_scores))
    if not math.isfinite(lo) or hi <= lo:
        raise W2SError(f"the anchors' scores {list(anchor_scores)} do not spread: pick anchors of different quality")
    return np.linspace(lo, hi, 101).tolist()
