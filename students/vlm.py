"""A vision-language model shown a clip and asked about its quality, Q-Align style.

Shared by the ``vlm:`` teacher (zero-shot score) and the ``vlm:`` student
backbone (score + features). A model is loaded from a local folder or a cached
Hugging Face hub id with transformers' Auto classes (``AutoProcessor`` +
``AutoModelForImageTextToText``), so any image-text-to-text model that
transformers knows works through the same code: the tiny random models of the
tests take exactly the path a real Qwen2-VL checkpoint takes.

A clip goes in as a video through the model's own processor (or as one image
for a 1-frame clip, or as a list of images when the processor has no video
support), with the clip's frame rate as video metadata, and a rating question;
the assistant's answer is pre-filled with "The quality of the video is". One
forward pass gives the next-token logits; a softmax over the first tokens of
the five level words " excellent", " good", " fair", " poor", " bad" gives
their probabilities, and the score is their expectation with weights 5..1
(Q-Align, Wu et al. 2023). Higher is better.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from w2s.core.clip import Clip
from w2s.core.errors import MissingWeightsError, W2SError
from w2s.core.hub import ensure_local, how_to_get

log = logging.getLogger(__name__)

LEVELS = ("excellent", "good", "fair", "poor", "bad")
WEIGHTS = (5.0, 4.0, 3.0, 2.0, 1.0)

PROMPTS = {
    "video": "How would you rate the quality of this video?",
    "image": "How would you rate the quality of this image?",
}
PREFILL = {
    "video": "The quality of the video is",
    "image": "The quality of the image is",
}

# owner/name or name, the characters the hub allows
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(dtype, device: str) -> torch.dtype:
    """``auto``: bf16 on a GPU that supports it, else fp16 on a GPU, fp32 on the CPU."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if str(device).startswith("cuda") and torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if dtype not in _DTYPES:
        raise W2SError(f"unknown dtype {dtype!r}; use auto, {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def level_token_ids(tokenizer, prefix: str = PREFILL["video"], words: tuple[str, ...] = LEVELS) -> list[int]:
    """The first token of each level word as the tokenizer encodes it right after ``prefix``.

    Encodes ``prefix + " " + word`` and takes the first token past the
    encoding of ``prefix`` alone, so the leading space is tokenised exactly as
    in the answer the model is asked to continue; falls back to encoding
    ``" " + word`` alone when the prefix tokens do not line up.
    """
    base = tokenizer.encode(prefix, add_special_tokens=False)
    ids = []
    for word in words:
        full = tokenizer.encode(f"{prefix} {word}", add_special_tokens=False)
        if len(full) > len(base) and full[: len(base)] == base:
            ids.append(full[len(base)])
        else:
            ids.append(tokenizer.encode(f" {word}", add_special_tokens=False)[0])
    if len(set(ids)) < len(ids):
        shared = {words[i]: tok for i, tok in enumerate(ids) if ids.count(tok) > 1}
        log.warning("VLM: level words share a first token %s; their probabilities are not separable", shared)
    return ids


def check_model_ref(model: str, owner: str = "vlm") -> None:
    """Validate ``model`` without loading anything: a folder with config.json, or a hub id."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise MissingWeightsError(
                f"{owner}:{model}: the folder {path} has no config.json; point {owner}: at a model folder "
                "saved with save_pretrained (config.json, weights, processor and tokenizer files)"
            )
        return
    if _HUB_ID.match(model) and not model.endswith((".", "-")):
        return
    raise MissingWeightsError(
        f"{owner}:{model}: no model folder at {path}; use {owner}:PATH (a folder saved with save_pretrained, "
        f"holding config.json) or {owner}:OWNER/NAME (a Hugging Face hub id that is in the local cache)"
    )


@dataclass
class VLMOutput:
    """One forward pass over one clip."""

    probs: torch.Tensor  # (5,) float64 on the CPU: P(excellent) .. P(bad)
    last_token: torch.Tensor | None = None  # (hidden,) last layer at the final position
    visual_mean: torch.Tensor | None = None  # (hidden,) last layer averaged over visual tokens

    @property
    def score(self) -> float:
        return float((self.probs * torch.tensor(WEIGHTS, dtype=self.probs.dtype)).sum())


class VisionLanguageModel:
    """A frozen image-text-to-text model that answers the rating question for a clip."""

    family = "vlm"
    # the processor and tokenizer keep per-call state: the label stage calls it from one thread
    thread_safe = False
    # loaded straight onto the run's device, in the dtype that device supports
    takes_device = True

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        dtype: str | torch.dtype = "auto",
        prompt: str | None = None,
        max_frames: int = 8,
        trust_remote_code: bool = False,
    ):
        self.check(model)
        if max_frames < 1:
            raise W2SError(f"{self.family}:{model}: max_frames must be at least 1, got {max_frames}")
        self.name = f"{self.family}:{model}"
        self.model_ref = model
        self.device = device
        self.dtype = resolve_dtype(dtype, device)
        self.prompt = prompt
        self.max_frames = max_frames
        self.processor, self.model = self._load(model, trust_remote_code)
        self.model.to(device)
        self.model.eval()
        self.model.requires_grad_(False)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.has_video = getattr(self.processor, "video_processor", None) is not None
        self.level_ids = {kind: level_token_ids(self.tokenizer, PREFILL[kind]) for kind in PREFILL}
        config = self.model.config
        # Qwen-VL name them *_token_id, LLaVA-OneVision *_token_index
        self.visual_token_ids = sorted(
            {
                v
                for key in ("image_token_id", "video_token_id", "image_token_index", "video_token_index")
                if isinstance(v := getattr(config, key, None), int)
            }
        )
        self.hidden_size = config.get_text_config().hidden_size

    @classmethod
    def check(cls, model: str) -> None:
        check_model_ref(model, cls.family)

    def _load(self, model: str, trust_remote_code: bool):
        local = Path(model).expanduser().is_dir()
        # a folder, or the cached copy of a hub id, loads without the network; an uncached id fails in
        # seconds, naming how to get it, unless the hub answers (then it downloads); before transformers'
        # import, which takes seconds of its own
        found = ensure_local(model, self.name)
        from transformers import AutoModelForImageTextToText, AutoProcessor

        ref = str(found) if found is not None else model
        kwargs = {"trust_remote_code": trust_remote_code}
        if found is not None:
            kwargs["local_files_only"] = True  # never ask the hub about a model that is here
        try:
            processor = AutoProcessor.from_pretrained(ref, **kwargs)
            net = AutoModelForImageTextToText.from_pretrained(ref, dtype=self.dtype, **kwargs)
        except OSError as e:
            if local:
                first = str(e).splitlines()[0] if str(e) else ""
                raise MissingWeightsError(
                    f"{self.name}: cannot load the model folder {ref} ({e.__class__.__name__}: {first}); it needs "
                    "config.json, the weights and the processor/tokenizer files that save_pretrained writes"
                ) from None
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            what = f"loaded from its cached copy {ref}" if found else "downloaded"
            raise MissingWeightsError(f"{self.name}: {model!r} could not be {what} ({first}); {how_to_get(model)}") from None
        except ValueError as e:  # an Auto class does not know this architecture
            raise W2SError(
                f"{self.name}: transformers cannot load {ref} as an image-text-to-text model ({e}); "
                "use an instruction-tuned VLM (e.g. Qwen2-VL, Qwen2.5-VL, LLaVA-OneVision), or pass "
                "trust_remote_code=True for a model that ships its own code"
            ) from None
        return processor, net

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    # ------------------------------------------------------------------ inputs

    def _frames(self, clip: Clip):
        """(T, H, W, 3) uint8, at most ``max_frames`` spread evenly, and their positions in the clip."""
        frames = clip.frames
        idx = torch.arange(frames.shape[0])
        if frames.shape[0] > self.max_frames:
            idx = torch.linspace(0, frames.shape[0] - 1, self.max_frames).round().long()
            frames = frames[idx]
        arr = (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
        return arr, idx.tolist()

    def inputs(self, clip: Clip) -> tuple[dict, str]:
        """The processor's tensors for ``clip`` (on the model's device) and the kind shown ('video'/'image')."""
        arr, positions = self._frames(clip)
        kind = "image" if arr.shape[0] == 1 else "video"
        question = self.prompt or PROMPTS[kind]
        media_kwargs: dict = {}
        if kind == "video" and self.has_video:
            content = [{"type": "video"}]
            media_kwargs["videos"] = [arr]
            # the clip's own timing: Qwen2.5-VL turns it into seconds per temporal patch
            # (its default assumes 24 fps); the frames are already sampled, so none are dropped
            media_kwargs["video_metadata"] = [
                {"total_num_frames": clip.num_frames, "fps": float(clip.fps), "frames_indices": positions}
            ]
            media_kwargs["do_sample_frames"] = False
        else:  # a still, or a processor without video support: the frames as images
            content = [{"type": "image"} for _ in range(arr.shape[0])]
            media_kwargs["images"] = list(arr)
        messages = [{"role": "user", "content": [*content, {"type": "text", "text": question}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        batch = self.processor(text=[text + PREFILL[kind]], return_tensors="pt", **media_kwargs)
        out = {}
        for key, value in batch.items():
            if torch.is_tensor(value):
                value = value.to(self.device)
                if value.is_floating_point():
                    value = value.to(self.dtype)
            out[key] = value
        return out, kind

    # ------------------------------------------------------------------ forward

    @torch.inference_mode()
    def forward(self, clip: Clip, features: bool = False) -> VLMOutput:
        """Level-word probabilities, and with ``features`` the last layer's state at the
        final position and its mean over the visual tokens (float32, CPU)."""
        batch, kind = self.inputs(clip)
        out = self.model(**batch, output_hidden_states=features)
        logits = out.logits[0, -1].double()
        probs = torch.softmax(logits[self.level_ids[kind]], dim=0).cpu()
        if not features:
            return VLMOutput(probs)
        hidden = out.hidden_states[-1][0].float()  # (sequence, hidden)
        visual = torch.isin(batch["input_ids"][0], torch.tensor(self.visual_token_ids, device=hidden.device))
        if not visual.any():  # pragma: no cover - a processor that inserts no placeholder tokens
            raise W2SError(f"{self.name}: no visual tokens found in the input; cannot pool visual features")
        return VLMOutput(probs, hidden[-1].cpu(), hidden[visual].mean(dim=0).cpu())

    def level_probabilities(self, clip: Clip) -> torch.Tensor:
        """P(excellent), P(good), P(fair), P(poor), P(bad) for ``clip``: float64, sums to 1."""
        return self.forward(clip).probs
