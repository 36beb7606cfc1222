"""The Q-CLIP student's trainable share, from model configs alone (nothing downloaded).

    python benchmarks/qclip_share.py [--hidden 128] [--extras 12]

Prints, for the tiny random CLIP of the tests and for the published CLIP
ViT-B/16 and ViT-L/14 shapes (built on torch's meta device: shapes only, no
weights, no memory), the frozen CLIP's parameters, the branch's trainable ones
(five prompts, the shared adapter of bottleneck ``--hidden``, and the
projection of ``--extras`` appended statistics, 12 with ``student.motion``)
and their ratio, which is what a run records as ``trainable_share``.
"""

from __future__ import annotations

import argparse
import tempfile

import torch

# the towers of openai/clip-vit-base-patch16 and -large-patch14 (their config.json)
PUBLISHED = {
    "ViT-B/16": {"text": {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12, "num_attention_heads": 8},
                     "vision": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                                 "image_size": 224, "patch_size": 16}, "projection_dim": 512},
    "ViT-L/14": {"text": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12},
                     "vision": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
                                 "image_size": 224, "patch_size": 14}, "projection_dim": 768},
}


def clip_parameters(shape: dict) -> int:
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(text_config=dict(vocab_size=49408, max_position_embeddings=77, **shape["text"]),
                        vision_config=shape["vision"], projection_dim=shape["projection_dim"])
    with torch.device("meta"):
        return sum(p.numel() for p in CLIPModel(config).parameters())


def branch_parameters(embed_dim: int, hidden: int, extras: int) -> int:
    from students.quality_prompts import QualityPromptHead

    with torch.device("meta"):
        head = QualityPromptHead(embed_dim + extras, embed_dim, hidden=hidden)
    return sum(p.numel() for p in head.parameters() if p.requires_grad)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128, help="student.hidden: the adapter's bottleneck")
    parser.add_argument("--extras", type=int, default=12, help="appended statistics (12: student.motion)")
    args = parser.parse_args(argv)
    from transformers import CLIPModel

    from w2s.testing.tiny_clip import build_tiny_clip

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny = CLIPModel.from_pretrained(build_tiny_clip(tmp))
        rows.append(("tiny random CLIP (tests)", sum(p.numel() for p in tiny.parameters()), tiny.config.projection_dim))
    rows += [(f"CLIP {name}", clip_parameters(shape), shape["projection_dim"]) for name, shape in PUBLISHED.items()]
    print(f"hidden {args.hidden}, appended statistics {args.extras}")
    print(f"{'model':28} {'frozen':>12} {'trainable':>10} {'share':>9}")
    for name, frozen, dim in rows:
        trainable = branch_parameters(dim, args.hidden, args.extras)
        print(f"{name:28} {frozen:12,d} {trainable:10,d} {trainable / frozen:9.3%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
