"""Round-0 ablations on a finished run's cached labels: which features and which pairs matter.

    python benchmarks/ablate_round0.py runs/quickstart

Retrains only the calibration head (seconds each) on the run's cached features
and teacher scores, and prints held-out SRCC for: the multi-scale mean+std
features against the backbone's plain global pool, and with or without the
motion features; teacher pairs over clean clips only, over all items, and with
distortion pairs added; and the per-family SRCC of the temporal families
(stutter, jitter, flicker, framerate) the run evaluates. Numbers are on
the run's held-out set; nothing here is tuned to it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from students.efficientnet_lite import EfficientNetLite0
from students.motion import MOTION_DIM
from w2s.config import load_run_config
from w2s.eval.severity import evaluate_scores
from w2s.run.label import load_labels, score_column
from w2s.run.pairs import distortion_pairs, item_index, teacher_pairs
from w2s.run.train import score_items, train_head


def main(argv=None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    run = Path(argv[0] if argv else "runs/quickstart")
    config = load_run_config(run)
    items, feats = load_labels(run / "label")
    ev, evf = load_labels(run / "evalset")
    index = item_index(items)
    columns = [score_column(t) for t in config.teacher_names()]
    weights = np.ones(len(columns))
    dist = distortion_pairs(items, config.pairs.gap1_p, config.pairs.gap2_p)
    clean = items[items.family == ""].reset_index(drop=True)
    n = config.pairs.teacher_pairs
    pair_sets = {
        "teacher pairs, clean clips only": teacher_pairs(clean, columns, weights, n, config.seed),
        "teacher pairs, all items": teacher_pairs(items, columns, weights, n, config.seed),
        "distortion pairs only": dist,
        "teacher (all items) + distortion": pd.concat([teacher_pairs(items, columns, weights, n, config.seed), dist]),
    }
    motion = MOTION_DIM if config.student.motion else 0
    # columns: [backbone | motion | temporal change of the backbone's features]
    backbone_dim = (feats.shape[1] - motion) // (2 if config.student.temporal else 1)
    feature_sets = {"multi-scale mean+std" + (" + motion" if motion else ""): slice(None)}
    if motion:
        keep = [i for i in range(feats.shape[1]) if not backbone_dim <= i < backbone_dim + motion]
        feature_sets["multi-scale mean+std, no motion"] = keep
    if config.student.backbone == "efficientnet_lite0":
        offset = 2 * sum(EfficientNetLite0.STAGE_CHANNELS)
        feature_sets["global pool (head mean)"] = slice(offset, offset + 1280)
    first = next(iter(feature_sets))
    temporal = [f for f in ("stutter", "jitter", "flicker", "framerate") if f in set(ev.family)]
    id_fams = list(config.eval.in_distribution or config.distortions)
    ood = list(config.eval.ood)
    rows = []
    for fname, cols in feature_sets.items():
        for pname, pairs in pair_sets.items():
            if fname != first and pname != "teacher (all items) + distortion":
                continue
            head, _ = train_head(feats[:, cols].contiguous(), pairs, index, config.student, config.train, config.seed)
            r = evaluate_scores(score_items(head, evf[:, cols].contiguous()), ev, id_fams, ood)
            rows.append({"features": fname, "pairs": pname, "n pairs": len(pairs), "ID SRCC": r["id_srcc"],
                         "OOD SRCC": r["ood_srcc"], "VMAF SRCC": r.get("vmaf_srcc", np.nan),
                         **{f: r["per_family"].get(f, np.nan) for f in temporal}})
    sys.stdout.write(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
