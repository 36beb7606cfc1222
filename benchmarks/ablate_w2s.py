"""Which lever makes the student stronger everywhere: an ablation on the quickstart.

    python benchmarks/ablate_w2s.py [--labels runs/ablation_labels3] [--out runs/ablation] [--lofo first|all] [LEVER ...]

One label stage holds everything any lever needs (the quickstart's pool and
held-out set, labelled by piqe, entropy, the cross-content teachers niqe,
brisque and sharpness and the full-reference teachers psnr, gmsd and nlpd,
with teacher-only variants and NSS features); it is made once with
`w2s run --stop-after evalset` (the command is printed when it is missing).
Every lever is then a run of its own whose label stage is linked from it
(features without the NSS columns where the lever has none), so the levers
differ only in what they change. Each prints a row: held-out ID, OOD
and VMAF SRCC for round 0 and the last round, and leave-one-family-out on the
training pool (mean over families, worst family, families ranked backwards
while the best no-reference teacher ranks them forwards) for the students it
computed. Settings are chosen by the leave-one-family-out and out-of-fold
figures, never by the held-out columns.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pandas as pd

from w2s.config import load_config
from w2s.core import io
from w2s.eval.lofo import summarize_lofo
from w2s.run.folder import RunFolder
from w2s.run.loop import run
from w2s.run.train import default_accelerator

QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
FR = "fr:psnr, fr:gmsd, fr:nlpd"
CROSS = "niqe:pristine, classic:brisque, classic:sharpness"
LABELS = [
    f"teachers=[pyiqa:piqe, pyiqa:entropy, {CROSS}, {FR}]",
    "teacher_only={saturation: [0.7, 0.45, 0.2, 0.0], jitter: null, flicker: null, sharpen: null}",
    "student.nss=true",
]
NSS_DIM = 32

# cumulative: each lever keeps the ones above it; the last is the quickstart now. The defaults are the
# quickstart's recipe, so the baseline names the value each later lever changes, as it was before issue 9
LEVERS = {
    "baseline": ["teachers=[pyiqa:piqe, pyiqa:entropy]", "pairs.ensemble=equal", "student.prior=none",
                 "pairs.fr_scope=any", "pairs.student_votes=both", "pairs.teacher_pairs=20000", "pairs.clean_pairs=0"],
    "fr_teachers": [f"teachers=[pyiqa:piqe, pyiqa:entropy, {FR}]"],
    "reliability_2axis": ["pairs.ensemble=reliability"],
    "teacher_prior": ["student.prior=teachers"],
    "fr_within": ["pairs.fr_scope=within"],
    "students_within": ["pairs.student_votes=within"],
    # chosen on the dev photos (README: "Real human opinion"), not by this table
    "cross_content": [f"teachers=[pyiqa:piqe, pyiqa:entropy, {CROSS}, {FR}]", "pairs.teacher_pairs=60000",
                      "pairs.clean_pairs=20000"],
}
# alternatives, each measured on top of another lever (its base, listed before it), and left out
ALTERNATIVES = {
    "nss": ("reliability_2axis", ["student.nss=true"]),
    "hard_across": ("nss", ["hard_cases.across_contents=true"]),
    "shares_teacher_up": ("hard_across", ["train.shares={teacher: 0.6, fr: 0.2, distortion: 0.1, hard: 0.1}"]),
    "teacher_only_alt": ("reliability_2axis", [
        "teacher_only={saturation: [0.7, 0.45, 0.2, 0.0], jitter: null, flicker: null, sharpen: null}"]),
    "shares_distortion_up_alt": ("reliability_2axis", ["train.shares={teacher: 0.4, fr: 0.3, distortion: 0.2, hard: 0.1}"]),
}


def link_labels(labels: Path, out: Path, nss: bool) -> None:
    """The label stages of ``labels`` in the run folder ``out`` (hard links; features re-cut without NSS)."""
    for name in ("manifest.parquet", "evalset_manifest.parquet", "failures.parquet"):
        if (labels / name).exists() and not (out / name).exists():
            out.mkdir(parents=True, exist_ok=True)
            os.link(labels / name, out / name)
    for stage in ("label", "evalset"):
        src, dst = labels / stage, out / stage
        if io.is_done(dst):
            continue
        dst.mkdir(parents=True, exist_ok=True)
        for name in ("items.parquet", "failures.parquet", "backbone.json"):
            if (src / name).exists() and not (dst / name).exists():
                shutil.copy(src / name, dst / name)
        features = io.read_tensors(src / "features.safetensors")["features"]
        io.write_tensors({"features": features if nss else features[:, :-NSS_DIM].contiguous()}, dst / "features.safetensors")
        if stage == "label" and not nss:
            info = io.read_json(src / "backbone.json")
            io.write_json({**info, "dim": info["dim"] - NSS_DIM, "name": info["name"].replace("+nss", "")},
                          dst / "backbone.json")
        io.mark_done(dst)


def row(name: str, folder: RunFolder, rounds: int) -> dict:
    first, last = (io.read_json(folder.round(k).metrics) for k in (0, rounds - 1))
    out = {"lever": name}
    for tag, metrics, student in (("r0", first, "student r0"), (f"r{rounds - 1}", last, f"student r{rounds - 1}")):
        for key, label in (("id_srcc", "ID"), ("ood_srcc", "OOD"), ("vmaf_srcc", "VMAF")):
            out[f"{label} {tag}"] = metrics[student][key]
    out["VMAF ensemble"] = first["ensemble"]["vmaf_srcc"]
    # training-pool figures to choose by: each student's out-of-fold reliability as the next round's teacher
    for k in range(rounds - 1):
        info = io.read_json(folder.round(k + 1).teachers)
        out[f"OOF r{k} within"] = info["reliability"][f"score:student r{k}"]
        out[f"OOF r{k} across"] = info.get("reliability_across", {}).get(f"score:student r{k}", float("nan"))
    if folder.lofo.exists():
        summary = summarize_lofo(pd.read_parquet(folder.lofo)).set_index("model")
        teachers = summary[summary.kind == "teacher"]
        out["LOFO best NR teacher"] = teachers.mean_srcc.max()
        for model in [m for m in summary.index if m.startswith("student")]:
            k = model.split("r")[-1]
            out[f"LOFO r{k} mean"] = summary.loc[model, "mean_srcc"]
            out[f"LOFO r{k} worst"] = f"{summary.loc[model, 'worst_srcc']:.3f} ({summary.loc[model, 'worst_family']})"
            out[f"LOFO r{k} backwards"] = int(summary.loc[model, "backwards"])
    return out


def lever_settings() -> dict[str, list[str]]:
    """Each lever's and alternative's overrides of the quickstart config, levers cumulative (later wins)."""
    settings, overrides = {}, []
    for name, extra in LEVERS.items():
        overrides = overrides + extra
        settings[name] = overrides
    for name, (base, extra) in ALTERNATIVES.items():
        settings[name] = settings[base] + extra
    return settings


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("levers", nargs="*", help=f"run up to these levers (default all): {', '.join(LEVERS)}")
    p.add_argument("--labels", default="runs/ablation_labels3", help="the shared label stage (a run folder)")
    p.add_argument("--out", default="runs/ablation")
    p.add_argument("--lofo", default="first", choices=["first", "all"])
    args = p.parse_args(argv)
    labels = Path(args.labels)
    if not io.is_done(labels / "evalset"):
        sys.stderr.write("no shared label stage; make it with:\n  w2s run configs/quickstart.yaml --set name="
                         f"{labels.name} " + " ".join(f"--set '{o}'" for o in LABELS) + " --stop-after evalset\n")
        return 2
    accelerator = default_accelerator()
    wanted = args.levers or [*LEVERS, *ALTERNATIVES]
    settings = lever_settings()
    rows = []
    for name in [n for n in settings if n in wanted]:
        slug = f"{name}_lofo-{args.lofo}"
        config = load_config(QUICKSTART, [*settings[name], f"name={slug}", f"output_dir={args.out}", f"eval.lofo={args.lofo}"])
        link_labels(labels, config.run_dir, config.student.nss)
        run(config, accelerator=accelerator)
        rows.append(row(name, RunFolder(config.run_dir), config.rounds))
        sys.stdout.write(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}") + "\n")
    table = pd.DataFrame(rows)
    table.to_csv(Path(args.out) / f"ablation_lofo-{args.lofo}.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
