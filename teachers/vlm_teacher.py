"""Any instruction-tuned vision-language model as a teacher, scored Q-Align style.

``vlm:PATH_OR_ID`` loads a local model folder or a cached Hugging Face hub id
with transformers' Auto classes (``AutoProcessor`` +
``AutoModelForImageTextToText``). A clip is shown to the model as a video (or
as a single image for a 1-frame clip, or as a list of images when the
processor has no video support) with a rating question, and the assistant's
answer is pre-filled with "The quality of the video is". One forward pass
gives the next-token logits; a softmax over the first tokens of the five level
words " excellent", " good", " fair", " poor", " bad" turns them into
probabilities and the score is their expectation with weights 5..1
(Q-Align, Wu et al. 2023). Higher is better, so no sign flip is needed.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch

from w2s.errors import MissingWeightsError, W2SError
from w2s.media.clip import Clip

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

_DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {
        "1",
        "ON",
        "YES",
        "TRUE",
    }:
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except (ImportError, AttributeError):  # pragma: no cover - very old huggingface_hub
        return False


def _hub_cache() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except (ImportError, AttributeError):  # pragma: no cover
        return str(Path.home() / ".cache" / "huggingface" / "hub")


def _resolve_dtype(dtype, device: str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if str(device).startswith("cuda") and torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if dtype not in _DTYPES:
        raise W2SError(f"unknown dtype {dtype!r}; use auto, {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def level_token_ids(tokenizer, prefix: str = PREFILL["video"]) -> list[int]:
    """The first token of each level word as the tokenizer encodes it right after ``prefix``.

    Encodes ``prefix + " " + word`` and takes the first token past the
    encoding of ``prefix`` alone, so the leading space is tokenised exactly as
    in the answer the model is asked to continue; falls back to encoding
    ``" " + word`` alone when the prefix tokens do not line up.
    """
    base = tokenizer.encode(prefix, add_special_tokens=False)
    ids = []
    for word in LEVELS:
        full = tokenizer.encode(f"{prefix} {word}", add_special_tokens=False)
        if len(full) > len(base) and full[: len(base)] == base:
            ids.append(full[len(base)])
        else:
            ids.append(tokenizer.encode(f" {word}", add_special_tokens=False)[0])
    if len(set(ids)) < len(ids):
        shared = {LEVELS[i]: tok for i, tok in enumerate(ids) if ids.count(tok) > 1}
        log.warning(
            "VLM teacher: level words share a first token %s; their probabilities are not separable",
            shared,
        )
    return ids


class VLMTeacher:
    """``vlm:PATH_OR_ID`` — a vision-language model asked to rate the clip, Q-Align style."""

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
            raise W2SError(
                f"vlm:{model}: max_frames must be at least 1, got {max_frames}"
            )
        self.name = f"vlm:{model}"
        self.model_ref = model
        self.device = device
        self.dtype = _resolve_dtype(dtype, device)
        self.prompt = prompt
        self.max_frames = max_frames
        self.processor, self.model = self._load(model, trust_remote_code)
        self.model.to(device)
        self.model.eval()
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.has_video = getattr(self.processor, "video_processor", None) is not None
        self.level_ids = {
            kind: level_token_ids(self.tokenizer, PREFILL[kind]) for kind in PREFILL
        }

    # ------------------------------------------------------------------ loading

    @staticmethod
    def check(model: str) -> None:
        """Validate ``model`` without loading anything: a folder with config.json, or a hub id."""
        path = Path(model).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise MissingWeightsError(
                    f"vlm:{model}: the folder {path} has no config.json; point vlm: at a model folder "
                    "saved with save_pretrained (config.json, weights, processor and tokenizer files)"
                )
            return
        if _HUB_ID.match(model) and not model.endswith((".", "-")):
            return
        raise MissingWeightsError(
            f"vlm:{model}: no model folder at {path}; use vlm:PATH (a folder saved with save_pretrained, "
            "holding config.json) or vlm:OWNER/NAME (a Hugging Face hub id that is in the local cache)"
        )

    def _load(self, model: str, trust_remote_code: bool):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        local = Path(model).expanduser().is_dir()
        ref = str(Path(model).expanduser()) if local else model
        kwargs = {"trust_remote_code": trust_remote_code}
        if not local and _offline():
            kwargs["local_files_only"] = (
                True  # fail at once instead of retrying the network
            )
        try:
            processor = AutoProcessor.from_pretrained(ref, **kwargs)
            net = AutoModelForImageTextToText.from_pretrained(
                ref, dtype=self.dtype, **kwargs
            )
        except OSError as e:
            if local:
                raise MissingWeightsError(
                    f"{self.name}: cannot load the model folder {ref} ({e.__class__.__name__}: "
                    f"{str(e).splitlines()[0] if str(e) else ''}); it needs config.json, the weights and the "
                    "processor/tokenizer files that save_pretrained writes"
                ) from None
            raise MissingWeightsError(
                f"{self.name}: {model!r} is not in the Hugging Face cache {_hub_cache()}"
                + (
                    " and downloads are off (HF_HUB_OFFLINE=1)"
                    if _offline()
                    else " and could not be downloaded"
                )
                + f"; run `hf download {model}` where the network is reachable and copy the cache here "
                "(or set HF_HOME / HF_HUB_CACHE to it), or save the model to a folder and use vlm:/path/to/folder"
            ) from None
        except ValueError as e:  # an Auto class does not know this architecture
            raise W2SError(
                f"{self.name}: transformers cannot load {ref} as an image-text-to-text model ({e}); "
                "use an instruction-tuned VLM (e.g. Qwen2-VL, Qwen2.5-VL, LLaVA-OneVision), or pass "
                "trust_remote_code=True for a model that ships its own code"
            ) from None
        return processor, net

    # ------------------------------------------------------------------ scoring

    def _frames(self, clip: Clip):
        frames = clip.frames
        if frames.shape[0] > self.max_frames:
            idx = torch.linspace(0, frames.shape[0] - 1, self.max_frames).round().long()
            frames = frames[idx]
        arr = (
            (frames.clamp(0, 1) * 255)
            .round()
            .to(torch.uint8)
            .permute(0, 2, 3, 1)
            .contiguous()
            .numpy()
        )
        return arr

    def inputs(self, clip: Clip) -> tuple[dict, str]:
        """The processor's tensors for ``clip`` (on the teacher's device) and the kind shown ('video'/'image')."""
        arr = self._frames(clip)
        kind = "image" if arr.shape[0] == 1 else "video"
        question = self.prompt or PROMPTS[kind]
        media_kwargs: dict = {}
        if kind == "video" and self.has_video:
            content = [{"type": "video"}]
            media_kwargs["videos"] = [arr]
        else:  # a still, or a processor without video support: the frames as images
            content = [{"type": "image"} for _ in range(arr.shape[0])]
            media_kwargs["images"] = list(arr)
        messages = [
            {"role": "user", "content": [*content, {"type": "text", "text": question}]}
        ]
        text = self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        text = text + PREFILL[kind]
        batch = self.processor(text=[text], return_tensors="pt", **media_kwargs)
        out = {}
        for key, value in batch.items():
            if torch.is_tensor(value):
                value = value.to(self.device)
                if value.is_floating_point():
                    value = value.to(self.dtype)
            out[key] = value
        return out, kind

    @torch.inference_mode()
    def level_probabilities(self, clip: Clip) -> torch.Tensor:
        """P(excellent), P(good), P(fair), P(poor), P(bad) for ``clip``: float64, sums to 1."""
        batch, kind = self.inputs(clip)
        logits = self.model(**batch).logits[0, -1].double()
        return torch.softmax(logits[self.level_ids[kind]], dim=0).cpu()

    def score(self, clip: Clip) -> float:
        probs = self.level_probabilities(clip)
        return float((probs * torch.tensor(WEIGHTS, dtype=probs.dtype)).sum())
