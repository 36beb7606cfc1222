"""Evaluation on held-out content, without human scores.

Ground truth of two kinds:

- severity order: within one content and one family, the clean clip (level 0)
  is best and each level is worse than the one before; the score is the mean
  SRCC over those (content, family) groups. Families seen in training give
  the in-distribution figure, families never seen give the OOD figure.
- VMAF against the clean clip for codec families: a full-reference score that
  also ranks *across* contents, so its SRCC is global.

Labeled sets with human scores (KoNViD-1k, LIVE-VQC, ...) use ``all_metrics``
on their MOS instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from w2s.eval.metrics import all_metrics, grouped_srcc, srcc


def severity_groups(items: pd.DataFrame, families) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices, ground truth (-level, higher is better) and group labels.

    Each (content, family) group holds that content's clean clip (level 0)
    and its variants of that family; a clean clip appears in every group of
    its content.
    """
    families = set(families)
    clean = {v: i for i, (v, f) in enumerate(zip(items.video_id, items.family)) if f == ""}
    rows, gt, groups = [], [], []
    for i, (v, f, lvl) in enumerate(zip(items.video_id, items.family, items.level)):
        if f in families:
            rows.append(i)
            gt.append(-lvl)
            groups.append(f"{v}#{f}")
    for g in sorted(set(groups)):
        v = g.split("#")[0]
        if v in clean:
            rows.append(clean[v])
            gt.append(0)
            groups.append(g)
    return np.array(rows, dtype=np.int64), np.array(gt, dtype=np.float64), np.array(groups)


def evaluate_scores(scores: np.ndarray, items: pd.DataFrame, id_families, ood_families) -> dict:
    """All figures for one model's scores over the evaluation items."""
    scores = np.asarray(scores, dtype=np.float64)
    out = {}
    for key, fams in (("id", id_families), ("ood", ood_families)):
        rows, gt, groups = severity_groups(items, fams)
        out[f"{key}_srcc"] = grouped_srcc(scores[rows], gt, groups) if len(rows) else float("nan")
    per_family = {}
    for fam in sorted(set(id_families) | set(ood_families)):
        rows, gt, groups = severity_groups(items, [fam])
        if len(rows):
            per_family[fam] = grouped_srcc(scores[rows], gt, groups)
    out["per_family"] = per_family
    if "vmaf" in items and items.vmaf.notna().any():
        m = items.vmaf.notna().to_numpy()
        vm = all_metrics(scores[m], items.vmaf.to_numpy()[m])
        out.update({f"vmaf_{k}": v for k, v in vm.items()})
        out["vmaf_per_family"] = {
            fam: srcc(scores[m & (items.family == fam).to_numpy()], items.vmaf.to_numpy()[m & (items.family == fam).to_numpy()])
            for fam in sorted(items.family[m].unique())
        }
    return out
