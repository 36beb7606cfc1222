"""w2s-vqa: weak-to-strong video quality assessment without human opinion scores."""

__version__ = "0.1.0"
