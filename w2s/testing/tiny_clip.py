"""A tiny random CLIP, written to a folder offline.

``build_tiny_clip(out_dir)`` writes a complete CLIP folder (config, random
weights, a tokenizer and an image processor) with ``save_pretrained``, so it
loads through exactly the code a real checkpoint such as
``openai/clip-vit-base-patch16`` takes (``AutoProcessor`` + ``CLIPModel``,
:mod:`students.clip_backbone`). Nothing is downloaded.

Sizes: text and vision towers of 2 layers, hidden size 32; 32 x 32 images in
8-pixel patches (16 patches); a 16-value joint embedding; about 60 k
parameters. The tokenizer is a byte-level BPE trained on the spot on the
level prompts (milliseconds), lower-cased like CLIP's, wrapping each text in
CLIP's ``<|startoftext|>`` ... ``<|endoftext|>`` (the end token is where the
text tower pools). The weights are random: the embeddings mean nothing; use
it to test plumbing and the head's math.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "a video of excellent quality",
    "a video of good quality",
    "a video of fair quality",
    "a video of poor quality",
    "a video of bad quality",
    "a photo of a cat",
]
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
VOCAB_SIZE = 512  # the embedding size; the trained tokenizer stays below it
MAX_TOKENS = 32
IMAGE, PATCH, HIDDEN, PROJECTION = 32, 8, 32, 16


def _tokenizer():
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=[BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 10, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, tok.token_to_id(BOS)), (EOS, tok.token_to_id(EOS))]
    )
    # CLIP pads with its end token; the text tower pools at the first end token
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=EOS,
                                   model_max_length=MAX_TOKENS)
    if len(fast) > VOCAB_SIZE:  # an internal invariant: the embedding table must cover every token
        raise RuntimeError(f"tiny tokenizer has {len(fast)} tokens, more than VOCAB_SIZE={VOCAB_SIZE}")
    return fast


def build_tiny_clip(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny random CLIP (weights, tokenizer, image processor) to ``out_dir``; returns it as a Path.
    The weights depend only on ``seed``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer()
    tower = {"hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config=dict(vocab_size=VOCAB_SIZE, max_position_embeddings=MAX_TOKENS, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **tower),
        vision_config=dict(image_size=IMAGE, patch_size=PATCH, **tower),
        projection_dim=PROJECTION,
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = CLIPModel(config).eval()
    finally:
        torch.random.set_rng_state(state)
    model.save_pretrained(out)
    images = CLIPImageProcessor(size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE})
    CLIPProcessor(image_processor=images, tokenizer=tok).save_pretrained(out)
    return out
