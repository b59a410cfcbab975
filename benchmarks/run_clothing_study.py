"""The clothing-change study: which parts of HybridGait make it robust to bags and coats?

On a synthetic CASIA-B-layout set (generated here, or reused) every model of the ablation is
trained with the same budget (iterations, batch, frames, learning-rate schedule) and the same
seeds, then evaluated with the CASIA-B protocol (NM / BG / CL rank-1, identical view excluded):

    GaitBase                    silhouettes only
    SkeletonGait++              silhouettes + skeleton maps
    HybridGait                  + keypoint branch, cross-attention fusion, ΔJoint, UL weighting
    HybridGait w/o cross-attn   the attention gate instead of cross-attention
    HybridGait w/o ΔJoint       keypoints without temporal differences
    HybridGait w/o UL           no upper/lower-body weighting
    HybridGait w/o pose branch  no keypoint branch (so no fusion and no ΔJoint)
    Pose only                   the keypoint branch alone

Results: <results>/clothing_study.md (table, command, commit, machine, wall time per run),
clothing_study.png (grouped bars with error bars) and clothing_study.json (every number).
Runs live in <work>/runs/; a re-run reuses finished runs (their eval JSON) unless --overwrite.

    python benchmarks/run_clothing_study.py            # 8 models x 3 seeds, about an hour on 2 CPU cores
    python benchmarks/run_clothing_study.py --quick    # 8 models x 1 seed, short training, < 10 minutes
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datasets_preprocess.common.atomic_files import atomic_path, atomic_write_text
from datasets_preprocess.common.cli import UserInputError, run_script, setup_logging

REPO = Path(__file__).resolve().parents[1]
MAIN = REPO / "opengait/opengait/main.py"
CONDITIONS = ("NM", "BG", "CL")


@dataclass(frozen=True)
class Variant:
    name: str
    config: str
    overrides: tuple[str, ...] = ()


HYBRID = "opengait/configs/hybridgait/hybridgait_synthetic.yaml"
VARIANTS = {v.name: v for v in (
    Variant("GaitBase", "opengait/configs/gaitbase/gaitbase_synthetic.yaml"),
    Variant("SkeletonGait++", "opengait/configs/skeletongait/skeletongait++_synthetic.yaml"),
    Variant("HybridGait", HYBRID),
    Variant("HybridGait w/o cross-attn", HYBRID, ("model_cfg.fusion=attention_gate",)),
    Variant("HybridGait w/o ΔJoint", HYBRID, ("model_cfg.delta_joint=false",)),
    Variant("HybridGait w/o UL", HYBRID, ("model_cfg.ul_weighting=false",)),
    Variant("HybridGait w/o pose branch", HYBRID, ("model_cfg.pose_branch=false",)),
    Variant("Pose only", HYBRID, ("model_cfg.visual_branch=false",)),
)}
FULL = dict(subjects=24, views="000,036,072,108,144,180", frames=30, iterations=300, seeds="0,1,2")
QUICK = dict(subjects=12, views="000,090,180", frames=24, iterations=80, seeds="0")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="reduced study for a smoke check (< 10 minutes)")
    p.add_argument("--models", default=",".join(VARIANTS),
                   help="comma-separated subset of: " + ", ".join(VARIANTS))
    p.add_argument("--subjects", type=int, help=f"synthetic identities (default {FULL['subjects']}; "
                   f"quick {QUICK['subjects']}); 60%% train, 40%% test as CASIA-B's 74/124")
    p.add_argument("--views", help=f"view angles (default {FULL['views']}; quick {QUICK['views']})")
    p.add_argument("--frames", type=int, help=f"frames per sequence (default {FULL['frames']})")
    p.add_argument("--iterations", type=int,
                   help=f"training iterations per run (default {FULL['iterations']}; quick {QUICK['iterations']})")
    p.add_argument("--seeds", help=f"comma-separated training seeds (default {FULL['seeds']}; quick {QUICK['seeds']})")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    p.add_argument("--keypoint-noise", type=float, default=0.055,
                   help="error of the synthetic keypoints in body heights (default 0.055: about a real "
                        "pose estimator's PCK@0.1 on these frames; 0 = exact ground truth)")
    p.add_argument("--work", default=None,
                   help="data and runs (default output/clothing_study, quick: output/clothing_study_quick)")
    p.add_argument("--results", default=None,
                   help="folder of the .md/.png/.json (default benchmarks/results; quick: <work>)")
    p.add_argument("--overwrite", action="store_true", help="retrain runs that are already finished")
    args = p.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.work = Path(args.work or ("output/clothing_study_quick" if args.quick else "output/clothing_study"))
    args.results = Path(args.results or (args.work if args.quick else "benchmarks/results"))
    unknown = [m for m in args.models.split(",") if m not in VARIANTS]
    if unknown:
        p.error(f"--models: unknown {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    return args


def run(cmd: list, what: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        raise UserInputError(f"{what} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result


def prepare_data(args: argparse.Namespace) -> Path:
    """Generate and preprocess the synthetic set (each step skips work already done)."""
    raw, work = args.work / "synthetic_casia_b", args.work / "casia_b_work"
    py = sys.executable
    steps = [
        ("generate", [py, "datasets_preprocess/synthetic/make_synthetic_gait.py", "--layout", "casia_b",
                      "--out", raw, "--subjects", args.subjects, "--views", args.views,
                      "--frames", args.frames, "--seed", args.data_seed, "--keypoint-noise", args.keypoint_noise]),
        ("poses and GEIs", [py, "datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes",
                            raw / "silhouettes", "--pose-from", raw / "poses", "--out", work]),
        ("silhouettes", [py, "datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
                         raw / "silhouettes", "--out", work]),
    ]
    for what, cmd in steps:
        start = time.time()
        try:
            out = run(cmd, what).stdout.strip().splitlines()
        except UserInputError as e:
            if "other options" in str(e):
                raise UserInputError(f"{e}\n{args.work} holds data made with other settings: give another "
                                     "--work for these settings (finished runs there are reused)") from None
            raise
        print(f"[data] {what}: {out[-1] if out else 'done'} ({time.time() - start:.0f} s)", flush=True)
    return work


def run_name(variant: str, seed: int) -> str:
    slug = "".join(c if c.isalnum() else "_" for c in variant.replace("+", "p").replace("Δ", "delta"))
    return f"{slug.strip('_')}_seed{seed}"


def train_and_test(variant: Variant, seed: int, data: Path, args: argparse.Namespace) -> dict:
    """One training run and its CASIA-B evaluation; reuses a finished run unless --overwrite."""
    name = run_name(variant.name, seed)
    runs = args.work / "runs"
    sets = [f"data_cfg.dataset_root={data / 'pretreated'}", f"data_cfg.dataset_partition={data / 'casia_b.json'}",
            "data_cfg.dataset_name=clothing_study", f"trainer_cfg.seed={seed}",
            f"trainer_cfg.total_iter={args.iterations}", f"trainer_cfg.save_iter={args.iterations}",
            f"trainer_cfg.log_iter={max(1, args.iterations // 4)}", "trainer_cfg.image_log_iter=0",
            f"scheduler_cfg.milestones=[{int(args.iterations * 2 / 3)}, {int(args.iterations * 0.9)}]",
            f"trainer_cfg.save_name={name}", f"evaluator_cfg.save_name={name}", *variant.overrides]
    from opengait.config import load_config
    cfg = load_config(REPO / variant.config, sets)
    run_dir = runs / cfg["data_cfg"]["dataset_name"] / cfg["model_cfg"]["model"] / name
    result_file = run_dir / "eval" / f"{args.iterations:05d}.json"
    if result_file.exists() and not args.overwrite:
        record = json.loads(result_file.read_text())
        return {"results": record["results"], "seconds": record.get("study_seconds"), "reused": True}
    if args.overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    start = time.time()
    base = [sys.executable, MAIN, "--cfgs", REPO / variant.config, "--output_root", runs,
            *[a for s in sets for a in ("--set", s)]]
    run([*base, "--phase", "train"], f"training {variant.name} (seed {seed})")
    run([*base, "--phase", "test"], f"testing {variant.name} (seed {seed})")
    seconds = time.time() - start
    record = json.loads(result_file.read_text())
    record["study_seconds"] = seconds
    atomic_write_text(result_file, json.dumps(record, indent=1) + "\n")
    return {"results": record["results"], "seconds": seconds, "reused": False}


def summarize(runs: dict[str, list[dict]]) -> dict:
    table = {}
    for variant, rows in runs.items():
        entry = {}
        for cond in CONDITIONS:
            values = np.array([100 * r["results"][cond] for r in rows])
            entry[cond] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                           "per_seed": values.round(2).tolist()}
        seconds = [r["seconds"] for r in rows if r["seconds"] is not None]
        entry["mean_seconds_per_run"] = float(np.mean(seconds)) if seconds else None
        table[variant] = entry
    return table


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return (result.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty else "")


def write_markdown(path: Path, table: dict, args: argparse.Namespace, argv: list[str], wall: float,
                   commit: str) -> None:
    seeds = args.seeds.split(",")
    run_minutes = sum((e["mean_seconds_per_run"] or 0) * len(seeds) for e in table.values()) / 60
    lines = ["# Clothing-change study (synthetic CASIA-B layout)", "", "```",
             " ".join(["python benchmarks/run_clothing_study.py", *argv]), "```", "",
             f"Commit {commit}; machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; "
             f"this invocation {wall / 60:.1f} min; the runs took {run_minutes:.1f} min of training and "
             "evaluation in all (reused runs keep the time of the invocation that trained them).", "",
             f"Data: {args.subjects} synthetic subjects (60% train / 40% test), views {args.views}, "
             f"{args.frames} frames per sequence, types nm-01..06, bg-01/02, cl-01/02, data seed "
             f"{args.data_seed}, keypoint noise {args.keypoint_noise} body heights (exact synthetic keypoints "
             "would be far more accurate than a pose estimator's; 0.055 gives about the PCK@0.1 that "
             f"yolo11n-pose reaches on these frames). Training: {args.iterations} iterations per run, each model's "
             "`*_synthetic.yaml` batch (4 ids x 3 sequences x 12 frames), SGD 0.1, steps at 2/3 and 9/10 of "
             f"the run; seeds {', '.join(seeds)}. Evaluation: CASIA-B protocol, gallery nm-01..04, rank-1 "
             "averaged over view pairs with the identical view excluded.", "",
             f"Rank-1 (%), mean ± std over {len(seeds)} seed(s):", "",
             "| model | NM | BG | CL | mean | s / run |", "| --- | --- | --- | --- | --- | --- |"]
    for variant, entry in table.items():
        cells = [f"{entry[c]['mean']:.1f} ± {entry[c]['std']:.1f}" for c in CONDITIONS]
        mean = np.mean([entry[c]["mean"] for c in CONDITIONS])
        secs = entry["mean_seconds_per_run"]
        lines.append(f"| {variant} | " + " | ".join(cells) + f" | {mean:.1f} | "
                     + (f"{secs:.0f}" if secs else "—") + " |")
    lines += ["", "Per-seed values are in clothing_study.json. Wall time per run includes training and "
              "evaluation on 2 CPU cores; a GPU is much faster.", ""]
    atomic_write_text(path, "\n".join(lines))


def write_plot(path: Path, table: dict, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(table)
    x = np.arange(len(names))
    width = 0.26
    fig, ax = plt.subplots(figsize=(max(7.0, 1.25 * len(names)), 4.2))
    for i, cond in enumerate(CONDITIONS):
        means = [table[n][cond]["mean"] for n in names]
        stds = [table[n][cond]["std"] for n in names]
        ax.bar(x + (i - 1) * width, means, width, yerr=stds, capsize=3, label=cond)
    ax.set_xticks(x, [n.replace(" w/o ", "\nw/o ") for n in names], fontsize=8)
    ax.set_ylabel("rank-1 (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title, fontsize=10)
    ax.legend(ncol=3, fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    setup_logging()
    start = time.time()
    commit = git_commit()  # before any result file of ours is rewritten
    args.work.mkdir(parents=True, exist_ok=True)
    data = prepare_data(args)
    seeds = [int(s) for s in args.seeds.split(",")]
    models = args.models.split(",")
    jobs = [(VARIANTS[m], s) for m in models for s in seeds]
    runs: dict[str, list[dict]] = {m: [] for m in models}
    counts = {"trained": 0, "reused": 0}
    bar = tqdm(jobs, desc="study", unit="run")
    for variant, seed in bar:
        bar.set_postfix_str(f"{variant.name} seed {seed}")
        row = train_and_test(variant, seed, data, args)
        runs[variant.name].append(row)
        counts["reused" if row["reused"] else "trained"] += 1
        r = row["results"]
        tqdm.write(f"{variant.name} seed {seed}: NM {100 * r['NM']:.1f} BG {100 * r['BG']:.1f} "
                   f"CL {100 * r['CL']:.1f}" + (" (reused)" if row["reused"] else f" ({row['seconds']:.0f} s)"))
    table = summarize(runs)
    wall = time.time() - start
    args.results.mkdir(parents=True, exist_ok=True)
    payload = {"command": ["python", "benchmarks/run_clothing_study.py", *argv], "commit": commit,
               "machine": {"arch": platform.machine(), "cpu_cores": os.cpu_count()},
               "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "wall_seconds": wall, "table": table,
               "runs": {m: [{"seed": s, **row} for s, row in zip(seeds, rows)] for m, rows in runs.items()}}
    atomic_write_text(args.results / "clothing_study.json", json.dumps(payload, indent=1) + "\n")
    write_markdown(args.results / "clothing_study.md", table, args, argv, wall, commit)
    write_plot(args.results / "clothing_study.png", table,
               f"Synthetic CASIA-B, rank-1, mean ± std over {len(seeds)} seed(s), {args.iterations} iterations")
    print(f"clothing study: {len(models)} models x {len(seeds)} seeds, {counts['trained']} runs trained, "
          f"{counts['reused']} reused, in {wall / 60:.1f} min -> {args.results / 'clothing_study.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(lambda a: main(a, sys.argv[1:]), parse_args()))
