"""A frozen CLIP as a student's perception backbone (``clip:PATH``), the base of the Q-CLIP student.

``clip:/models/clip-vit-base-patch16`` (a folder written by ``save_pretrained``
or downloaded with ``hf download openai/clip-vit-base-patch16 --local-dir``)
or ``clip:OWNER/NAME``, a hub id that is already in the local Hugging Face
cache. Nothing is downloaded: a hub id loads with ``local_files_only``, and a
missing folder, config or weight file fails at config validation, naming it.
The model loads through transformers' ``CLIPModel`` and the folder's own
processor (``AutoProcessor``), so the tiny random CLIP of the tests
(:mod:`w2s.testing.tiny_clip`) takes exactly the path a real checkpoint takes.

Features: each sampled frame goes through the processor (resize, centre crop,
CLIP's normalisation) and the vision tower; its projected image embedding
(the joint image-text space, ``projection_dim`` values) is L2-normalised, and
the clip's features are the mean over frames. The base score is 0: the
quality-level prompts of :mod:`students.quality_prompts` are the calibration
branch that turns these embeddings into a score.

:func:`quality_prompt_init` gives that branch its starting point: the text
tower's embeddings of five level prompts ("a video of excellent quality" ..
"bad") and CLIP's logit scale, computed once per model and process.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch

from students.base import BackboneBase
from w2s.core.clip import Clip
from w2s.core.errors import MissingWeightsError, W2SError

log = logging.getLogger(__name__)

FAMILY = "clip"
LEVELS = ("excellent", "good", "fair", "poor", "bad")  # best first, as the VLM level words
PROMPT_TEMPLATE = "a video of {} quality"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def _hub_files(model: str) -> Path | None:
    """The cached snapshot folder of hub id ``model`` (no network), or None."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def resolve_model(model: str) -> Path:
    """The local folder that ``clip:model`` names; a one-line :class:`MissingWeightsError` naming what is missing."""
    path = Path(model).expanduser()
    if not path.is_dir() and not path.is_absolute() and model.count("/") == 1 and not model.startswith("."):
        cached = _hub_files(model)  # OWNER/NAME: the hub cache, never the network
        if cached is None:
            from huggingface_hub import constants

            raise MissingWeightsError(
                f"clip:{model}: no folder {path.absolute()} and no cached hub model {model!r} in {constants.HF_HUB_CACHE}; "
                "where there is a network, download a CLIP (`hf download openai/clip-vit-base-patch16 --local-dir DIR`), "
                "copy DIR here and use clip:DIR"
            )
        path = cached
    if not path.is_dir():
        raise MissingWeightsError(
            f"clip:{model}: no model folder at {path}; point clip: at a CLIP folder saved with save_pretrained "
            "(config.json, model.safetensors, the tokenizer and preprocessor files)"
        )
    if not (path / "config.json").is_file():
        raise MissingWeightsError(f"clip:{model}: {path / 'config.json'} does not exist; the folder is not a saved CLIP model")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise MissingWeightsError(
            f"clip:{model}: no weight file in {path} (looked for {path / WEIGHT_FILES[0]}, or {', '.join(WEIGHT_FILES[1:])}); "
            "copy the model's weights there"
        )
    return path


def load_clip(model: str):
    """(processor, CLIPModel in eval mode, frozen) from the folder ``clip:model`` names."""
    from transformers import AutoProcessor, CLIPModel

    path = resolve_model(model)
    try:
        processor = AutoProcessor.from_pretrained(str(path), local_files_only=True)
        net = CLIPModel.from_pretrained(str(path), local_files_only=True)
    except OSError as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise MissingWeightsError(
            f"clip:{model}: cannot load the CLIP folder {path} ({e.__class__.__name__}: {first}); it needs config.json, "
            "the weights and the tokenizer/preprocessor files that save_pretrained writes"
        ) from None
    except ValueError as e:  # not a CLIP checkpoint (another model_type)
        raise W2SError(f"clip:{model}: {path} is not a CLIP model transformers can load ({str(e).splitlines()[0]})") from None
    if getattr(processor, "tokenizer", None) is None or getattr(processor, "image_processor", None) is None:
        raise MissingWeightsError(f"clip:{model}: {path} lacks the tokenizer or the image processor files of a CLIP processor")
    net.eval()
    net.requires_grad_(False)
    return processor, net


def _pooled(out) -> torch.Tensor:
    """The projected embeddings: transformers 5 returns an output whose pooler is projected, 4.x a tensor."""
    return out if torch.is_tensor(out) else out.pooler_output


def level_prompts() -> list[str]:
    return [PROMPT_TEMPLATE.format(level) for level in LEVELS]


@torch.inference_mode()
def text_embeddings(processor, net, texts: list[str]) -> torch.Tensor:
    """(len(texts), projection_dim) projected text embeddings, float32 on the CPU."""
    batch = processor.tokenizer(texts, padding=True, return_tensors="pt")
    device = next(net.parameters()).device
    out = net.get_text_features(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
    return _pooled(out).float().cpu()


@functools.lru_cache(maxsize=4)
def quality_prompt_init(model: str) -> tuple[torch.Tensor, float]:
    """(5, projection_dim) text embeddings of the level prompts, best first, and CLIP's logit scale
    (``exp(logit_scale)``, 100 for the OpenAI checkpoints). Loaded once per model and process: every
    head a run trains (rounds, out-of-fold folds) starts from the same prompts."""
    processor, net = load_clip(model)
    return text_embeddings(processor, net, level_prompts()), float(net.logit_scale.exp())


class CLIPBackbone(BackboneBase, torch.nn.Module):
    """``clip:PATH`` — a frozen CLIP vision tower: projected image embedding, normalised, mean over frames (Q-CLIP's backbone).

    ``model`` is a local CLIP folder (or a cached hub id); ``frame_batch``
    frames go through the vision tower at once.
    """

    def __init__(self, model: str, frame_batch: int = 16):
        super().__init__()
        if isinstance(frame_batch, bool) or not isinstance(frame_batch, int) or frame_batch < 1:
            raise W2SError(f"clip backbone frame_batch must be a positive integer, got {frame_batch!r}")
        self.model_ref = model
        self.name = f"{FAMILY}:{model}"
        self.frame_batch = frame_batch
        self.processor, self.net = load_clip(model)
        self.dim = int(self.net.config.projection_dim)
        log.info("clip:%s loaded from %s", model, resolve_model(model))

    @staticmethod
    def check(model: str) -> None:
        """Validate a ``clip:`` argument without loading weights: the folder, its config and a weight file exist."""
        resolve_model(model)

    def train(self, mode: bool = True):
        # frozen: nothing here trains whatever the caller does
        return super().train(False)

    @torch.inference_mode()
    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, H, W) in [0, 1] -> (T, projection_dim) L2-normalised image embeddings, float32 on the CPU."""
        device = next(self.net.parameters()).device
        out = []
        for chunk in frames.split(self.frame_batch):
            arr = (chunk.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
            pixels = self.processor.image_processor(images=list(arr), return_tensors="pt")["pixel_values"]
            emb = _pooled(self.net.get_image_features(pixel_values=pixels.to(device)))
            out.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu())
        return torch.cat(out)

    def embed(self, clip: Clip) -> torch.Tensor:
        """One vector per clip: the frames' normalised embeddings averaged over time."""
        return self.frame_features(clip.frames).mean(dim=0)
