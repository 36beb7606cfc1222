"""Memory of the Python API over a long list: it should stay flat (no clip is kept after its score).

    python benchmarks/api_memory.py [--model pyiqa:piqe] [--files 400]

Scores a list of ``--files`` paths (the sample pool's clips, repeated) with
``w2s.load(model)``, and prints the process's resident memory after the first
tenth of the list and at the end; growth beyond a few MB would mean something
holds on to every clip.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def rss_mb() -> float:
    """Current resident set size (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="pyiqa:piqe")
    p.add_argument("--files", type=int, default=400)
    args = p.parse_args(argv)

    import w2s
    from w2s.media.samples import build_samples

    with tempfile.TemporaryDirectory() as tmp:
        clips = [str(c) for c in build_samples(Path(tmp) / "pool", split="eval")]
        paths = [clips[i % len(clips)] for i in range(args.files)]
        scorer = w2s.load(args.model)
        first = max(1, args.files // 10)
        start = time.perf_counter()
        scorer(paths[:first])
        early = rss_mb()
        scorer(paths[first:])
        late = rss_mb()
        seconds = time.perf_counter() - start
    sys.stdout.write(f"{args.model}: {args.files} files in {seconds:.1f} s; resident memory after {first} files "
                     f"{early:.0f} MB, after {args.files} {late:.0f} MB (growth {late - early:+.1f} MB)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
