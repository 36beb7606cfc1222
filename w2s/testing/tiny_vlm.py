"""Tiny random vision-language models, written to a folder offline.

``build_tiny_vlm(family, out_dir)`` writes a complete model folder — config,
random weights, a tokenizer, a chat template and the processor configs — with
``save_pretrained``, so that the folder loads through exactly the code a real
checkpoint takes::

    AutoProcessor.from_pretrained(folder)
    AutoModelForImageTextToText.from_pretrained(folder)

Nothing is downloaded. The models are random (their answers mean nothing) and
small (2 decoder layers, hidden size 64, a 1-2 layer vision tower, a few
hundred thousand parameters), so a forward pass on a few small frames takes
milliseconds on a CPU. Use them to test plumbing: teachers built on a VLM,
and VLM students.

How a folder is made, for every family:

* a byte-level BPE tokenizer is trained on the spot (``tokenizers``, a few
  milliseconds) on :data:`CORPUS` — sentences holding the quality prompt and
  the level words, each also an atomic token after a space, so
  ``" excellent"`` etc. encode to distinct single tokens — with the family's
  special tokens added, then wrapped in ``PreTrainedTokenizerFast``;
* the config's image/video token ids are set to the ids those special tokens
  got in this tokenizer;
* the chat template is a short Jinja string with the *shape* of the family's
  real template (role markers, where the image/video placeholder goes, the
  assistant header added by ``add_generation_prompt``);
* the image/video processors are built from class defaults, with sizes
  shrunk so an image becomes a handful of vision tokens.

Families: ``qwen2_vl``, ``qwen2_5_vl``, ``llava_onevision`` (see :data:`FAMILIES`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

# Level words of the Q-Align style rating, best first.
LEVEL_WORDS = ("excellent", "good", "fair", "poor", "bad")

CORPUS = [
    "How would you rate the quality of this video?",
    "How would you rate the quality of this image?",
    "The quality of the video is excellent.",
    "The quality of the video is good.",
    "The quality of the video is fair.",
    "The quality of the video is poor.",
    "The quality of the video is bad.",
    "The quality of the image is excellent, good, fair, poor or bad.",
    "You are a helpful assistant. Rate the quality: excellent good fair poor bad.",
    "system user assistant",
    # the comparative student's question and answers (students/comparative.py)
    "The first video: The second video: Compared with the first video, how is the quality of the second video?",
    "The quality of the second video is superior.",
    "The quality of the second video is better.",
    "The quality of the second video is similar.",
    "The quality of the second video is worse.",
    "The quality of the second video is inferior.",
]

HIDDEN = 64
VOCAB_SIZE = 512  # the embedding size; the trained tokenizer stays below it


def _train_tokenizer(
    special_tokens: list[str], *, eos: str, pad: str, bos: str | None = None
):
    """A byte-level BPE tokenizer trained on :data:`CORPUS`, with ``special_tokens`` first.

    Qwen-style pre-tokenisation (no prefix space), so ``" good"`` in the
    middle of a sentence and ``" good"`` encoded alone give the same tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - 16,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # repeated so every level word (with its leading space) becomes one token
    tok.train_from_iterator(CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=eos,
        pad_token=pad,
        bos_token=bos,
        additional_special_tokens=[
            t for t in special_tokens if t not in (eos, pad, bos)
        ],
    )
    if len(fast) > VOCAB_SIZE:  # an internal invariant: the model's embedding table must cover every token
        raise RuntimeError(f"tiny tokenizer has {len(fast)} tokens, more than VOCAB_SIZE={VOCAB_SIZE}")
    return fast


def _text_config(tok, **extra) -> dict:
    """The 2-layer, hidden-64 Qwen2-style decoder shared by every family."""
    return dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=HIDDEN,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
        **extra,
    )


# ---------------------------------------------------------------- Qwen2-VL / Qwen2.5-VL

QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Same shape as Qwen2-VL-Instruct's template: a default system turn, ChatML
# role markers, <|vision_start|><|image_pad|><|vision_end|> per image.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# 14-px patches, 2x2 merge: an image is resized to between 56x56 and 112x112
# pixels, i.e. 4 to 16 patches -> 1 to 4 tokens per (pair of) frame(s).
QWEN_PIXELS = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}


# per version: config, model and processor class names in ``transformers``
# (both versions use Qwen2-VL's image and video processors) and a tiny vision tower
_QWEN_VERSIONS = {
    "qwen2_vl": (
        ("Qwen2VLConfig", "Qwen2VLForConditionalGeneration", "Qwen2VLProcessor"),
        {
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": HIDDEN,
            "num_heads": 2,
            "mlp_ratio": 2,
        },
    ),
    "qwen2_5_vl": (
        (
            "Qwen2_5_VLConfig",
            "Qwen2_5_VLForConditionalGeneration",
            "Qwen2_5_VLProcessor",
        ),
        {
            "depth": 2,
            "hidden_size": 32,
            "out_hidden_size": HIDDEN,
            "intermediate_size": 64,
            "num_heads": 2,
            "window_size": 56,  # windowed attention in block 0, full attention in block 1
            "fullatt_block_indexes": [1],
        },
    ),
}


def _build_qwen(out_dir: Path, version: str) -> None:
    import transformers

    (config_cls, model_cls, processor_cls), vision = _QWEN_VERSIONS[version]
    tok = _train_tokenizer(QWEN_SPECIAL, eos="<|im_end|>", pad="<|endoftext|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    # multimodal RoPE: the (t, h, w) sections must sum to head_dim / 2 = 64 / 4 / 2
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
    vision = {
        **vision,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    config = getattr(transformers, config_cls)(
        text_config=_text_config(tok, rope_parameters=rope),
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    getattr(transformers, model_cls)(config).eval().save_pretrained(out_dir)
    processor = getattr(transformers, processor_cls)(
        image_processor=transformers.Qwen2VLImageProcessor(**QWEN_PIXELS),
        # cap_pixels_per_frame=True: the reference (qwen-vl-utils) behaviour, and no warning per call
        video_processor=transformers.Qwen2VLVideoProcessor(
            **QWEN_PIXELS, cap_pixels_per_frame=True
        ),
        tokenizer=tok,
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    processor.save_pretrained(out_dir)


# ---------------------------------------------------------------- LLaVA-OneVision

LLAVA_OV_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]

# Same shape as llava-onevision-qwen2-*-ov-hf's template: ChatML role markers,
# the <image>/<video> placeholder on its own line before the text.
LLAVA_OV_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>\n"
    "{% elif content['type'] == 'video' %}<video>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAVA_OV_IMAGE = 32  # SigLIP input side; 8-px patches -> 16 tokens per tile
LLAVA_OV_PATCH = 8


def _build_llava_onevision(out_dir: Path) -> None:
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    tok = _train_tokenizer(LLAVA_OV_SPECIAL, eos="<|im_end|>", pad="<|endoftext|>")
    side = LLAVA_OV_IMAGE
    pinpoints = [[side, side], [side, 2 * side], [2 * side, side], [2 * side, 2 * side]]
    config = LlavaOnevisionConfig(
        text_config=dict(model_type="qwen2", **_text_config(tok)),
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": side,
            "patch_size": LLAVA_OV_PATCH,
        },
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=pinpoints,
        vision_aspect_ratio="anyres_max_9",
    )
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    model.save_pretrained(out_dir)
    size = {"height": side, "width": side}
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(
            size=size, image_grid_pinpoints=pinpoints
        ),
        video_processor=LlavaOnevisionVideoProcessor(size=size),
        tokenizer=tok,
        num_image_tokens=(side // LLAVA_OV_PATCH) ** 2,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_OV_CHAT_TEMPLATE,
        vision_aspect_ratio="anyres_max_9",
    )
    processor.save_pretrained(out_dir)


FAMILIES: dict[str, Callable[[Path], None]] = {
    "qwen2_vl": lambda out: _build_qwen(out, "qwen2_vl"),
    "qwen2_5_vl": lambda out: _build_qwen(out, "qwen2_5_vl"),
    "llava_onevision": _build_llava_onevision,
}


def build_tiny_vlm(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny random ``family`` VLM (weights, tokenizer, processor) to ``out_dir``.

    The weights depend only on ``seed``. Returns ``out_dir`` as a ``Path``;
    load it with ``AutoProcessor`` / ``AutoModelForImageTextToText.from_pretrained``.
    """
    import torch

    if family not in FAMILIES:
        raise ValueError(
            f"unknown tiny VLM family {family!r}; use one of {', '.join(FAMILIES)}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        FAMILIES[family](out)
    finally:
        torch.random.set_rng_state(state)
    return out
