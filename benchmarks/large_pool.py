"""Memory of a large pool's features in training: memory-mapped and gathered per batch, or resident.

Writes a synthetic feature file (``--rows`` x 4128 float32, the quickstart backbone's width)
block by block as the label stage does, then in a fresh process per setting maps it
(``w2s.run.label.load_labels``' reader), trains one calibration head for an epoch and scores every
item, and prints the peak of the process's own (anonymous) memory, which file-backed pages are
not: the OS drops them when memory is short, and processes that map one file share them.

    python benchmarks/large_pool.py [--rows 60000] [--pairs 20000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIM = 4128


class AnonPeak:
    """The peak of the process's anonymous resident memory (RssAnon, Linux), sampled every 5 ms:
    the kernel keeps a peak of all resident memory only, file-backed pages included."""

    def __init__(self):
        import threading

        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak = max(self.peak, int(line.split()[1]))
            self._stop.wait(0.005)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 1024


def child(path: str, pairs: int, streamed: bool) -> None:
    import numpy as np
    import pandas as pd
    import torch

    from w2s.config import StudentConfig, TrainConfig
    from w2s.core import io
    from w2s.run import train

    torch.set_num_threads(1)
    train.RESIDENT_BYTES = 0 if streamed else 1 << 62  # force each path, whatever the default bound
    features = io.map_tensor(path, "features")
    n = len(features)
    rng = np.random.default_rng(0)
    ids = np.array([f"i{k}" for k in range(n)])
    a, b = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    table = pd.DataFrame({"a": ids[a], "b": ids[b], "p": rng.uniform(0, 1, pairs), "source": "teacher"})
    index = {x: k for k, x in enumerate(ids)}
    peak = AnonPeak()
    t0 = time.perf_counter()
    head, _ = train.train_head(features, table, index, StudentConfig(), TrainConfig(epochs=1, checkpoint_every=0), seed=0)
    train.score_items(head, features)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "peak_anon_mb": peak.stop()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--pairs", type=int, default=20000)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.pairs, args.child[1] == "streamed")
        return
    import torch

    from w2s.core import io

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.safetensors"
        g = torch.Generator().manual_seed(0)
        block = 4096
        blocks = (torch.randn(min(block, args.rows - s), DIM, generator=g) for s in range(0, args.rows, block))
        io.write_rows("features", blocks, args.rows, DIM, path)
        print(f"{args.rows} items x {DIM} features: {path.stat().st_size / 2**20:.0f} MB on disk, "
              f"{args.pairs} pairs, 1 epoch + scoring every item, 1 thread")
        for setting in ("resident", "streamed"):
            out = subprocess.run([sys.executable, __file__, "--pairs", str(args.pairs), "--child", str(path), setting],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  {setting:9s} peak own memory {r['peak_anon_mb']:7.0f} MB, {r['seconds']:6.1f} s")


if __name__ == "__main__":
    main()
