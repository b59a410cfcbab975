"""The clothing-change study: which parts of HybridGait help, and does clothing augmentation help?

Two arms, both paired: within a seed every model sees the same synthetic population (the
seed is the data seed: each seed draws its own people), the same train/test split and the same
training seed (sampler, augmentation, initialisation):

- **casia_b**: on a synthetic CASIA-B-layout set with realistic keypoint error
  (``--keypoint-noise estimator``, calibrated against yolo11n-pose), eight models trained with
  one budget and evaluated with the CASIA-B protocol (NM / BG / CL rank-1):

      GaitBase, SkeletonGait++, HybridGait, HybridGait w/o cross-attn (the attention gate instead),
      w/o ΔJoint, w/o UL, w/o pose branch, Pose only

- **ccvid_aug**: on the synthetic CCVID layout (clothes-changing protocol), HybridGait and
  SkeletonGait++ trained with and without oracle clothing augmentation at DLCR's setting (25%
  of the training tracklets x 10 outfits of other identities, the same walk re-rendered by the
  generator = perfect inpainting, through the real ccvid_aug scripts; a quarter of each
  identity's K sequences per batch drawn from the augmented ones); general and CC rank-1 / mAP.

Reported: per model mean ± std over seeds, and the paired differences (each ablation -
HybridGait, HybridGait - SkeletonGait++, HybridGait - GaitBase; with - without augmentation)
with 95% t-intervals over seeds; an interval containing 0 is "no difference". Every finished
run leaves a small JSON (settings, seeds, metrics, loss curve, seconds) in
<results>/clothing_study_runs/<arm>/, which the study reuses -- so it resumes on a fresh clone,
and the report is rebuilt from those files. Data and run folders live in --work (not kept).

    python benchmarks/run_clothing_study.py                    # the full study (hours on 2 CPU cores; resumable)
    python benchmarks/run_clothing_study.py --jobs 2           # two runs at a time, one thread each
    python benchmarks/run_clothing_study.py --report-only      # rebuild the report from the run files
    python benchmarks/run_clothing_study.py --quick            # a smoke check (< 10 minutes)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitcore.atomic_files import atomic_path, atomic_write_text
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
CONDITIONS = ("NM", "BG", "CL")
CC_METRICS = ("test/ccvid_general/rank1", "test/ccvid_general/mAP", "test/ccvid_cc/rank1", "test/ccvid_cc/mAP")


@dataclass(frozen=True)
class Variant:
    name: str
    config: str
    overrides: tuple[str, ...] = ()


HYBRID = "opengait/configs/hybridgait/hybridgait_synthetic.yaml"
# The real DLCR stage 4 with the tiny random inpainting model of dlcr/make_tiny_models.py, run for
# the first seed only to show the path end to end: its "new clothes" are noise (dlcr_data).
DLCR_VARIANT = "HybridGait + DLCR aug (tiny random SD)"
HYBRID_CCVID = "opengait_ccvid/configs/hybridgait_ccvid_synthetic.yaml"
# SkeletonGait++ on CCVID: HybridGait with its keypoint branch off, the attention gate and no UL,
# which is exactly SkeletonGait++ (tests/test_hybridgait.py loads its weights and gets its output).
SGPP_SWITCHES = ("model_cfg.pose_branch=false", "model_cfg.fusion=attention_gate", "model_cfg.ul_weighting=false")
# The study's "HybridGait" is the full model the seed describes, whatever the shipped configs
# default to (the study's verdict may switch a part off there): every run built on a HybridGait
# config starts from these switches, and the variant's own overrides come after them. They are
# the values the shipped configs had when the committed runs were made, so those runs stand.
FULL_HYBRID = ("model_cfg.pose_branch=true", "model_cfg.delta_joint=true",
               "model_cfg.ul_weighting=true", "model_cfg.fusion=cross_attention")
CASIA_VARIANTS = {v.name: v for v in (
    Variant("GaitBase", "opengait/configs/gaitbase/gaitbase_synthetic.yaml"),
    Variant("SkeletonGait++", "opengait/configs/skeletongait/skeletongait++_synthetic.yaml"),
    Variant("HybridGait", HYBRID),
    Variant("HybridGait w/o cross-attn", HYBRID, ("model_cfg.fusion=attention_gate",)),
    Variant("HybridGait w/o ΔJoint", HYBRID, ("model_cfg.delta_joint=false",)),
    Variant("HybridGait w/o UL", HYBRID, ("model_cfg.ul_weighting=false",)),
    Variant("HybridGait w/o pose branch", HYBRID, ("model_cfg.pose_branch=false",)),
    Variant("Pose only", HYBRID, ("model_cfg.visual_branch=false",)),
    # OpenGait's baselines (not in study v2's default set; name them with --models).
    Variant("DeepGaitV2", "opengait/configs/deepgaitv2/deepgaitv2_synthetic.yaml"),
    Variant("SkeletonGait", "opengait/configs/skeletongait/skeletongait_synthetic.yaml"),
    Variant("GaitGraph2", "opengait/configs/gaitgraph2/gaitgraph2_synthetic.yaml"),
)}
STUDY_V2_MODELS = ("GaitBase", "SkeletonGait++", "HybridGait", "HybridGait w/o cross-attn", "HybridGait w/o ΔJoint",
                   "HybridGait w/o UL", "HybridGait w/o pose branch", "Pose only")
CCVID_VARIANTS = {v.name: v for v in (
    Variant("HybridGait", HYBRID_CCVID),
    Variant("HybridGait + oracle aug", HYBRID_CCVID, ("AUG",)),
    Variant("SkeletonGait++", HYBRID_CCVID, SGPP_SWITCHES),
    Variant("SkeletonGait++ + oracle aug", HYBRID_CCVID, SGPP_SWITCHES + ("AUG",)),
    Variant(DLCR_VARIANT, HYBRID_CCVID, ("DLCR",)),
)}
# Paired comparisons: (label, model a, model b) -> a - b.
CASIA_PAIRS = [(f"{v} - HybridGait", v, "HybridGait") for v in CASIA_VARIANTS
               if v.startswith("HybridGait w/o") or v == "Pose only"] + [
    ("HybridGait - SkeletonGait++", "HybridGait", "SkeletonGait++"),
    ("HybridGait - GaitBase", "HybridGait", "GaitBase")]
CCVID_PAIRS = [("HybridGait: oracle aug - none", "HybridGait + oracle aug", "HybridGait"),
               ("SkeletonGait++: oracle aug - none", "SkeletonGait++ + oracle aug", "SkeletonGait++"),
               ("HybridGait - SkeletonGait++ (no aug)", "HybridGait", "SkeletonGait++"),
               ("HybridGait: DLCR tiny random SD aug - none", DLCR_VARIANT, "HybridGait")]

# 1500 iterations: on a tuning population (data seed 100, kept apart from the reported seeds) every
# model's loss is flat from ~600 iterations at lr 0.1 and flat again after the two steps (the
# README quotes the curves and the command that measures them).
FULL = dict(subjects=24, views="000,036,072,108,144,180", frames=30, iterations=1500, seeds="0,1,2,3,4",
            ccvid_subjects=30, ccvid_frames=30, ccvid_iterations=1500, arms="casia_b,ccvid_aug")
QUICK = dict(subjects=12, views="000,090,180", frames=24, iterations=80, seeds="0,1",
             ccvid_subjects=12, ccvid_frames=16, ccvid_iterations=60, arms="casia_b,ccvid_aug")
KEYPOINT_NOISE = "estimator"
AUGMENT = {"fraction": 0.25, "variants": 10, "share": 0.25}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="reduced study for a smoke check (< 10 minutes)")
    p.add_argument("--arms", help="comma-separated: casia_b, ccvid_aug (default both)")
    p.add_argument("--models", help="casia_b arm: comma-separated subset of: " + ", ".join(CASIA_VARIANTS)
                   + " (default: study v2's " + ", ".join(STUDY_V2_MODELS) + ")")
    p.add_argument("--seeds", help=f"comma-separated seeds, each a data seed and a training seed "
                                   f"(default {FULL['seeds']}; quick {QUICK['seeds']})")
    p.add_argument("--subjects", type=int, help=f"casia_b identities (default {FULL['subjects']}); 60%% train")
    p.add_argument("--views", help=f"casia_b view angles (default {FULL['views']})")
    p.add_argument("--frames", type=int, help=f"casia_b frames per sequence (default {FULL['frames']})")
    p.add_argument("--iterations", type=int, help=f"casia_b training iterations (default {FULL['iterations']})")
    p.add_argument("--ccvid-subjects", type=int, help=f"ccvid identities (default {FULL['ccvid_subjects']}); half train")
    p.add_argument("--ccvid-frames", type=int, help=f"ccvid frames per tracklet (default {FULL['ccvid_frames']})")
    p.add_argument("--ccvid-iterations", type=int, help=f"ccvid training iterations (default {FULL['ccvid_iterations']})")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time; each gets cores/jobs threads (default 1)")
    p.add_argument("--work", help="data and run folders (default output/clothing_study, quick: output/clothing_study_quick)")
    p.add_argument("--results", help="report and run files (default benchmarks/results; quick: <work>)")
    p.add_argument("--no-dlcr", action="store_true",
                   help="skip the one-seed run through the real DLCR stage 4 with a tiny random model "
                        "(always skipped with --quick)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from the run files")
    p.add_argument("--overwrite", action="store_true", help="retrain runs whose result file exists")
    args = p.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.no_dlcr = args.no_dlcr or args.quick
    args.work = Path(args.work or ("output/clothing_study_quick" if args.quick else "output/clothing_study"))
    args.results = Path(args.results or (args.work if args.quick else "benchmarks/results"))
    args.models = args.models or (",".join(["SkeletonGait++", "HybridGait", "HybridGait w/o UL"]) if args.quick
                                  else ",".join(STUDY_V2_MODELS))
    unknown = [m for m in args.models.split(",") if m not in CASIA_VARIANTS]
    if unknown:
        p.error(f"--models: unknown {', '.join(unknown)} (known: {', '.join(CASIA_VARIANTS)})")
    bad_arms = [a for a in args.arms.split(",") if a not in ("casia_b", "ccvid_aug")]
    if bad_arms:
        p.error(f"--arms: unknown {', '.join(bad_arms)} (known: casia_b, ccvid_aug)")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds {args.seeds!r}: expected comma-separated integers")
    if args.jobs < 1 or min(args.iterations, args.ccvid_iterations) < 4:
        p.error("--jobs must be >= 1 and the iterations >= 4")
    return args


def run(cmd: list, what: str, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise UserInputError(f"{what} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result


# --- data -----------------------------------------------------------------------------------

def casia_data(args, seed: int) -> Path:
    """Generate and preprocess the CASIA-B-layout population of one seed (steps skip done work)."""
    raw, work = args.work / "data" / f"casia_b_seed{seed}", args.work / "data" / f"casia_b_seed{seed}_work"
    run([PY, "datasets_preprocess/synthetic/make_synthetic_gait.py", "--layout", "casia_b", "--out", raw,
         "--subjects", args.subjects, "--views", args.views, "--frames", args.frames, "--seed", seed,
         "--keypoint-noise", KEYPOINT_NOISE], f"generating casia_b seed {seed}")
    run([PY, "datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes", raw / "silhouettes",
         "--pose-from", raw / "poses", "--out", work], f"poses of casia_b seed {seed}")
    run([PY, "datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
         "--out", work], f"preprocessing casia_b seed {seed}")
    return work


def ccvid_data(args, seed: int) -> Path:
    """The CCVID-layout population of one seed, its oracle augmentation, through the real scripts."""
    raw, work = args.work / "data" / f"ccvid_seed{seed}", args.work / "data" / f"ccvid_seed{seed}_work"
    aug = args.work / "data" / f"ccvid_seed{seed}_aug"
    steps = [
        ([PY, "datasets_preprocess/synthetic/make_synthetic_gait.py", "--layout", "ccvid", "--out", raw,
          "--subjects", args.ccvid_subjects, "--frames", args.ccvid_frames, "--seed", seed,
          "--keypoint-noise", KEYPOINT_NOISE, "--augment-fraction", AUGMENT["fraction"],
          "--augment-variants", AUGMENT["variants"]], "generating"),
        ([PY, "datasets_preprocess/ccvid/rename_ids.py", "--src", raw, "--out", work], "indexing"),
        ([PY, "datasets_preprocess/ccvid/rearrange_to_grew.py", "--src", raw, "--out", work,
          "--sils-from", raw / "masks", "--pose-from", raw / "poses"], "preprocessing"),
        ([PY, "datasets_preprocess/ccvid/make_probe_gallery.py", "--out", work], "the partition"),
        ([PY, "datasets_preprocess/ccvid_aug/crop_augmented_k5.py", "--inpainted", raw / "oracle_inpainted",
          "--out", aug, "--k", AUGMENT["variants"]], "cropping the augmented tracklets"),
        ([PY, "datasets_preprocess/ccvid_aug/rearrange_to_grew.py", "--aug", aug, "--work", work,
          "--sils-from", raw / "oracle_masks", "--pose-from", raw / "poses"], "preprocessing the augmented tracklets"),
        ([PY, "datasets_preprocess/ccvid_aug/make_probe_gallery.py", "--aug", aug, "--work", work],
         "the augmented partition"),
    ]
    for cmd, what in steps:
        run(cmd, f"ccvid seed {seed}: {what}")
    return work


def dlcr_data(args, seed: int) -> Path:
    """The same CCVID population augmented through the real DLCR stage 4 (Stable Diffusion
    inpainting pipeline) with the tiny random model of dlcr/make_tiny_models.py.

    Stages 1-3 are replaced by the generator's ground truth, as a perfect LLaVA/LLaMA/SCHP would
    give them: the outfit prompts (outfit_prompts.jsonl) and the garment masks
    (oracle_clothes_masks/; a random parser's masks cover the whole frame, and grabcut then finds
    no person). What stage 4 paints inside the garments is noise. A separate working folder:
    the base preprocessing is deterministic, so its non-augmented sequences are the ones the
    other CCVID runs of this seed train on."""
    raw, work = args.work / "data" / f"ccvid_seed{seed}", args.work / "data" / f"ccvid_seed{seed}_dlcr_work"
    dlcr, tiny = args.work / "data" / f"ccvid_seed{seed}_dlcr", args.work / "tiny_models"
    steps = [
        ([PY, "datasets_preprocess/ccvid/rename_ids.py", "--src", raw, "--out", work], "indexing"),
        ([PY, "datasets_preprocess/ccvid/rearrange_to_grew.py", "--src", raw, "--out", work,
          "--sils-from", raw / "masks", "--pose-from", raw / "poses"], "preprocessing"),
        ([PY, "datasets_preprocess/ccvid/make_probe_gallery.py", "--out", work], "the partition"),
        ([PY, "dlcr/make_tiny_models.py", "--out", tiny], "tiny DLCR models"),
        ([PY, "dlcr/sd_inpaint/inpaint_clothes.py", "--src", raw, "--masks", raw / "oracle_clothes_masks",
          "--prompts", raw / "outfit_prompts.jsonl", "--ckpt", tiny / "sd_inpaint", "--size", 64, 32,
          "--steps", 2, "--batch-size", 8, "--n", AUGMENT["variants"], "--fraction", AUGMENT["fraction"],
          "--seed", seed, "--out", dlcr / "inpainted"], "DLCR stage 4"),
        ([PY, "datasets_preprocess/ccvid_aug/crop_augmented_k5.py", "--inpainted", dlcr / "inpainted",
          "--out", dlcr / "aug", "--k", AUGMENT["variants"]], "cropping the augmented tracklets"),
        ([PY, "datasets_preprocess/ccvid_aug/rearrange_to_grew.py", "--aug", dlcr / "aug", "--work", work,
          "--segmenter", "grabcut", "--pose-from", raw / "poses"], "preprocessing the augmented tracklets"),
        ([PY, "datasets_preprocess/ccvid_aug/make_probe_gallery.py", "--aug", dlcr / "aug", "--work", work],
         "the augmented partition"),
    ]
    for cmd, what in steps:
        run(cmd, f"ccvid seed {seed}, DLCR stage 4 with a tiny model: {what}")
    return work


# --- runs -----------------------------------------------------------------------------------

def slug(name: str) -> str:
    text = name.replace("+", "p").replace("Δ", "delta")
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def run_settings(args, arm: str, variant: Variant, seed: int) -> dict:
    """Everything that decides a run's result (its file is reused only when these match)."""
    common = {"arm": arm, "model": variant.name, "config": variant.config,
              "overrides": list(variant.overrides), "data_seed": seed, "train_seed": seed,
              "keypoint_noise": KEYPOINT_NOISE}
    if arm == "casia_b":
        return {**common, "subjects": args.subjects, "views": args.views, "frames": args.frames,
                "iterations": args.iterations}
    return {**common, "subjects": args.ccvid_subjects, "frames": args.ccvid_frames,
            "iterations": args.ccvid_iterations, "augmentation": AUGMENT}


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def result_path(args, arm: str, variant: Variant, seed: int) -> Path:
    return args.results / "clothing_study_runs" / arm / f"{slug(variant.name)}_seed{seed}.json"


def lr_steps(iterations: int) -> tuple[int, int]:
    """The learning-rate milestones of every study run: at 2/3 and 9/10 of its iterations."""
    return int(iterations * 2 / 3), int(iterations * 0.9)


def schedule_overrides(config: str, iterations: int) -> list[str]:
    """The learning-rate schedule fitted to the run's length: MultiStepLR steps at
    :func:`lr_steps`; a one-cycle schedule (GaitGraph2's) spans the run."""
    from opengait.config import load_config
    if load_config(REPO / config)["scheduler_cfg"].get("scheduler") == "OneCycleLR":
        return [f"scheduler_cfg.total_steps={iterations}"]
    return ["scheduler_cfg.milestones=[{}, {}]".format(*lr_steps(iterations))]


def model_overrides(variant: Variant) -> list[str]:
    """The ``--set`` items that make a variant's model: the full HybridGait's switches for the
    runs built on a HybridGait config, then the variant's own (the data markers AUG and DLCR are
    not model settings)."""
    pins = list(FULL_HYBRID) if variant.config in (HYBRID, HYBRID_CCVID) else []
    return pins + [o for o in variant.overrides if o not in ("AUG", "DLCR")]


def train_and_test(args, arm: str, variant: Variant, seed: int, data: Path, threads: int) -> dict:
    settings = run_settings(args, arm, variant, seed)
    path = result_path(args, arm, variant, seed)
    if path.exists() and not args.overwrite:
        record = json.loads(path.read_text())
        if record.get("settings_hash") == settings_hash(settings):
            return {**record, "reused": True}
    name = f"{arm}_{slug(variant.name)}_seed{seed}"
    runs = args.work / "runs"
    iterations = settings["iterations"]
    partition = data / ("casia_b.json" if arm == "casia_b" else "ccvid.json")
    sets = [f"data_cfg.dataset_root={data / 'pretreated'}", f"data_cfg.dataset_partition={partition}",
            f"data_cfg.dataset_name=clothing_study_{arm}", "data_cfg.num_workers=0",
            f"trainer_cfg.seed={seed}", f"trainer_cfg.total_iter={iterations}",
            f"trainer_cfg.save_iter={iterations}", f"trainer_cfg.log_iter={max(1, iterations // 40)}",
            "trainer_cfg.image_log_iter=0", *schedule_overrides(variant.config, iterations),
            f"trainer_cfg.save_name={name}", f"evaluator_cfg.save_name={name}"]
    sets += model_overrides(variant)
    if {"AUG", "DLCR"} & set(variant.overrides):
        sets += [f"data_cfg.dataset_partition={data / 'ccvid_aug.json'}",
                 f"trainer_cfg.sampler.augmented_share={AUGMENT['share']}"]
    main = "opengait/opengait/main.py" if arm == "casia_b" else "opengait_ccvid/main.py"
    from opengait.config import load_config
    cfg = load_config(REPO / variant.config, sets)
    run_dir = runs / cfg["data_cfg"]["dataset_name"] / cfg["model_cfg"]["model"] / name
    if run_dir.exists():
        shutil.rmtree(run_dir)                    # a run killed halfway starts again
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    base = [PY, main, "--cfgs", REPO / variant.config, "--output_root", runs, *[a for s in sets for a in ("--set", s)]]
    start = time.time()
    run([*base, "--phase", "train"], f"training {arm} {variant.name} (seed {seed})", env)
    run([*base, "--phase", "test"], f"testing {arm} {variant.name} (seed {seed})", env)
    seconds = time.time() - start
    evaluation = json.loads((run_dir / "eval" / f"{iterations:05d}.json").read_text())
    record = {"settings": settings, "settings_hash": settings_hash(settings),
              "metrics": {k: round(float(v), 6) for k, v in evaluation["results"].items()},
              "coverage": evaluation.get("coverage", {}), "loss_curve": loss_curve(run_dir / "summary"),
              "seconds": round(seconds, 1), "commit": git_commit(),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, {threads} thread(s)"}
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    return {**record, "reused": False}


def loss_curve(summary: Path) -> dict:
    import logging
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    acc = EventAccumulator(str(summary), size_guidance={"scalars": 0})
    acc.Reload()
    parts = [t for t in acc.Tags()["scalars"] if t.startswith("scalar/") and t.endswith("/loss") and t.count("/") == 2]
    steps = sorted({e.step for e in acc.Scalars(parts[0])})
    values = {t: {e.step: e.value for e in acc.Scalars(t)} for t in parts}
    return {"iteration": steps, "loss": [round(sum(values[t].get(s, 0.0) for t in parts), 5) for s in steps]}


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


# --- statistics and report -----------------------------------------------------------------

def t_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval (Student's t over seeds); (mean, nan, nan) for one value."""
    x = np.asarray(values, float)
    if len(x) < 2:
        return float(x.mean()), float("nan"), float("nan")
    from scipy.stats import t as student
    half = student.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def verdict(lo: float, hi: float) -> str:
    if not np.isfinite(lo):
        return "one seed: no interval"
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "no difference"


def collect(args, arm: str, variants: dict) -> dict[str, dict[int, dict]]:
    """{model: {seed: record}} from the run files that match the current settings."""
    out = {}
    for name, variant in variants.items():
        for seed in args.seed_list:
            path = result_path(args, arm, variant, seed)
            if path.exists():
                record = json.loads(path.read_text())
                if record.get("settings_hash") == settings_hash(run_settings(args, arm, variant, seed)):
                    out.setdefault(name, {})[seed] = record
    return out


def casia_value(record: dict, cond: str) -> float:
    m = record["metrics"]
    return 100 * (np.mean([m[c] for c in CONDITIONS]) if cond == "mean" else m[cond])


def paired_rows(runs: dict, pairs, columns, value) -> list[dict]:
    rows = []
    for label, a, b in pairs:
        seeds = sorted(set(runs.get(a, {})) & set(runs.get(b, {})))
        if not seeds:
            continue
        row = {"comparison": label, "seeds": seeds}
        for col in columns:
            diffs = [value(runs[a][s], col) - value(runs[b][s], col) for s in seeds]
            mean, lo, hi = t_interval(diffs)
            row[col] = {"mean": round(mean, 2), "ci95": [round(lo, 2), round(hi, 2)], "per_seed": diffs,
                        "verdict": verdict(lo, hi)}
        rows.append(row)
    return rows


def cell(d: dict) -> str:
    lo, hi = d["ci95"]
    interval = "" if not np.isfinite(lo) else f" [{lo:+.1f}, {hi:+.1f}]"
    mark = {"better": " ▲", "worse": " ▼"}.get(d["verdict"], "")
    return f"{d['mean']:+.1f}{interval}{mark}"


def loss_windows(runs: dict) -> dict:
    """Mean logged training loss of one model over its seeds in five windows of the schedule
    (learning-rate steps at 2/3 and 9/10, as the runs use): the first tenth, two equal windows
    before the first step (close values there mean the loss had flattened at that rate), between
    the steps and after the second. Keys are the windows' bounds in iterations, "(lo, hi]"."""
    iterations = next(iter(runs.values()))["settings"]["iterations"]
    first, second = lr_steps(iterations)
    span = iterations // 5
    bounds = [(0, iterations // 10), (first - 2 * span, first - span), (first - span, first),
              (first, second), (second, iterations)]
    out = {}
    for lo, hi in bounds:
        values = [v for r in runs.values() for i, v in zip(r["loss_curve"]["iteration"], r["loss_curve"]["loss"])
                  if lo < i <= hi]
        out[f"({lo}, {hi}]"] = float(np.mean(values)) if values else None     # a window too short to log in
    return out


def report(args, argv: list[str]) -> dict:
    casia = collect(args, "casia_b", CASIA_VARIANTS) if "casia_b" in args.arms else {}
    ccvid = collect(args, "ccvid_aug", CCVID_VARIANTS) if "ccvid_aug" in args.arms else {}
    casia_cols = (*CONDITIONS, "mean")
    table = {m: {c: dict(zip(("mean", "lo", "hi"), t_interval([casia_value(r, c) for r in runs.values()])),
                     std=float(np.std([casia_value(r, c) for r in runs.values()], ddof=1)) if len(runs) > 1 else 0.0)
                 for c in casia_cols} | {"seeds": sorted(runs)} for m, runs in casia.items()}
    cc_table = {m: {k: float(np.mean([100 * r["metrics"][k] for r in runs.values()])) for k in CC_METRICS}
                | {"seeds": sorted(runs)} for m, runs in ccvid.items()}
    casia_pairs = paired_rows(casia, CASIA_PAIRS, casia_cols, casia_value)
    cc_pairs = paired_rows(ccvid, CCVID_PAIRS, CC_METRICS, lambda r, k: 100 * r["metrics"][k])
    seconds = sum(r["seconds"] for runs in (*casia.values(), *ccvid.values()) for r in runs.values())
    payload = {"command": " ".join(["python benchmarks/run_clothing_study.py", *argv]),
               "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "keypoint_noise": KEYPOINT_NOISE, "keypoint_noise_model": noise_model(),
               "augmentation": AUGMENT, "interval": "95% Student-t over seeds",
               "casia_b": {"table": table, "paired": casia_pairs},
               "ccvid_aug": {"table": cc_table, "paired": cc_pairs}, "run_seconds": round(seconds),
               "loss": {f"{arm}: {m}": loss_windows(runs) for arm, models in (("casia_b", casia), ("ccvid", ccvid))
                        for m, runs in models.items()}}
    args.results.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.results / "clothing_study.json", json.dumps(payload, indent=1) + "\n")
    write_markdown(args.results / "clothing_study.md", payload, args, casia, ccvid)
    write_figure(args.results / "clothing_study.png", table, casia, ccvid)
    return payload


def noise_model() -> dict:
    """The keypoint error model the runs' data carry: its parameters and, when the realism
    benchmark's results are there, how it compares with yolo11n-pose on the same walks."""
    from dataclasses import asdict

    from datasets_preprocess.synthetic.pose_error import parse_pose_error
    model = {"spec": KEYPOINT_NOISE, "parameters": asdict(parse_pose_error(KEYPOINT_NOISE))}
    realism = REPO / "benchmarks" / "results" / "synthetic_realism.json"
    if realism.exists():
        model["calibration_source"] = str(realism.relative_to(REPO))
        model["calibration"] = json.loads(realism.read_text()).get("calibration", {})
    return model


def noise_model_lines(model: dict) -> list[str]:
    params = ", ".join(f"{k} {v:g}" for k, v in model["parameters"].items() if not isinstance(v, bool))
    lines = ["## Keypoint error model", "",
             f"`--keypoint-noise {model['spec']}` (datasets_preprocess/synthetic/pose_error.py; distances in body "
             f"heights; each parameter is described there): {params}.", ""]
    if model.get("calibration"):
        lines += [f"Against yolo11n-pose on the same synthetic walks ({model['calibration_source']}, "
                  "`python benchmarks/bench_synthetic_realism.py`), real / model:", "",
                  "| condition | PCK@0.1 | median error | lost joints | swap frames |", "| --- | --- | --- | --- | --- |"]
        for cond, e in model["calibration"].items():
            lines.append(f"| {cond} | " + " | ".join(f"{e['real'][k]:.3f} / {e['model'][k]:.3f}"
                                                    for k in ("pck", "median_error", "lost", "swap_frames")) + " |")
        lines.append("")
    return lines


def write_markdown(path: Path, payload: dict, args, casia: dict, ccvid: dict) -> None:
    hours = payload["run_seconds"] / 3600
    lines = ["# Clothing-change study (synthetic data, paired design)", "", "```", payload["command"], "```", "",
             f"Run files: `{args.results / 'clothing_study_runs'}` (one JSON per run: settings, seeds, metrics, "
             f"loss curve, commit); the runs took {hours:.1f} h of training and evaluation in all "
             f"({platform.machine()}, {os.cpu_count()} CPU cores, no GPU).", "",
             f"Design: seeds {', '.join(map(str, args.seed_list))}; seed s draws its own synthetic population "
             "(data seed s) and trains every model with training seed s, so differences are paired within a "
             "seed. Intervals: 95% Student-t over seeds of the paired differences; an interval that contains "
             "0 is reported as no difference. Keypoints carry the calibrated estimator error model "
             "(`--keypoint-noise estimator`: drift, bias, left/right swaps, joints lost or misplaced under "
             "coats and bags; parameters and calibration below).", ""]
    if casia:
        lines += [f"## CASIA-B layout: {args.subjects} subjects (60% train), views {args.views}, {args.frames} "
                  f"frames, {args.iterations} iterations per run (batch 4 x 3 x 12 frames, SGD 0.1, steps at "
                  "2/3 and 9/10; HybridGait clips the gradient norm at 5)", "",
                  "Rank-1 (%), identical view excluded, mean ± std over seeds:", "",
                  "| model | seeds | NM | BG | CL | mean |", "| --- | --- | --- | --- | --- | --- |"]
        for m, e in payload["casia_b"]["table"].items():
            lines.append(f"| {m} | {len(e['seeds'])} | " + " | ".join(
                f"{e[c]['mean']:.1f} ± {e[c]['std']:.1f}" for c in (*CONDITIONS, "mean")) + " |")
        lines += ["", "Paired differences in rank-1 points, mean [95% interval] (▲ / ▼: the interval excludes 0):", "",
                  "| comparison | seeds | NM | BG | CL | mean |", "| --- | --- | --- | --- | --- | --- |"]
        for row in payload["casia_b"]["paired"]:
            lines.append(f"| {row['comparison']} | {len(row['seeds'])} | " + " | ".join(
                cell(row[c]) for c in (*CONDITIONS, "mean")) + " |")
    if ccvid:
        lines += ["", f"## CCVID layout with clothing augmentation: {args.ccvid_subjects} subjects (half train), "
                  f"{args.ccvid_frames} frames per tracklet, {args.ccvid_iterations} iterations per run", "",
                  f"Oracle augmentation: {int(100 * AUGMENT['fraction'])}% of the training tracklets re-rendered "
                  f"in {AUGMENT['variants']} outfits of other training identities (the same walk, camera and "
                  "background: perfect inpainting), through crop_augmented_k5.py (k = 10, all variants kept), "
                  f"ccvid_aug/rearrange_to_grew.py and make_probe_gallery.py; augmented_share {AUGMENT['share']}. "
                  "SkeletonGait++ is HybridGait with its keypoint branch off, the attention gate and no UL "
                  "(identical to SkeletonGait++).", "",
                  f"{DLCR_VARIANT} (first seed only): the real DLCR stage 4 (diffusers' inpainting pipeline, "
                  "inpaint_clothes.py) with the tiny random model of dlcr/make_tiny_models.py, on the generator's "
                  "ground-truth garment masks and outfit prompts (a perfect stage 1-3), silhouettes of the "
                  "repainted frames by grabcut. It shows the path end to end; the repainted garments are noise, "
                  "so its numbers say nothing about what DLCR gains.", "",
                  "| model | seeds | general R1 | general mAP | CC R1 | CC mAP |", "| --- | --- | --- | --- | --- | --- |"]
        for m, e in payload["ccvid_aug"]["table"].items():
            lines.append(f"| {m} | {len(e['seeds'])} | " + " | ".join(f"{e[k]:.1f}" for k in CC_METRICS) + " |")
        lines += ["", "| comparison | seeds | general R1 | general mAP | CC R1 | CC mAP |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for row in payload["ccvid_aug"]["paired"]:
            lines.append(f"| {row['comparison']} | {len(row['seeds'])} | " + " | ".join(cell(row[k]) for k in CC_METRICS) + " |")
    lines += ["", "## Training loss", "",
              "Every run's curve is in clothing_study.png (one panel per model, one line per seed; the logged "
              "loss is the summed triplet and softmax loss of one batch every 1/40 of the run; dashed lines: the "
              "learning-rate steps). Mean logged loss over the seeds in windows of iterations: the first tenth, "
              "two equal windows before the first step (close values: the loss had flattened at that rate), "
              "between the steps, after the second:", ""]
    if payload["loss"]:
        windows = list(next(iter(payload["loss"].values())))
        lines += ["| model | " + " | ".join(windows) + " |", "| --- |" + " --- |" * len(windows)]
        for model, w in payload["loss"].items():
            lines.append(f"| {model} | " + " | ".join("–" if w[k] is None else f"{w[k]:.2f}" for k in windows) + " |")
        lines.append("")
    lines.append("")
    lines += noise_model_lines(payload["keypoint_noise_model"])
    atomic_write_text(path, "\n".join(lines))


def write_figure(path: Path, table: dict, casia: dict, ccvid: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("casia_b", m, runs) for m, runs in casia.items()] + [("ccvid", m, runs) for m, runs in ccvid.items()]
    if not panels:
        return
    cols = 4
    rows = 1 + (len(panels) + cols - 1) // cols
    fig = plt.figure(figsize=(3.2 * cols, 2.4 * rows))
    if table:
        ax = fig.add_subplot(rows, 1, 1)
        names = list(table)
        x = np.arange(len(names))
        for i, cond in enumerate(CONDITIONS):
            ax.bar(x + (i - 1) * 0.26, [table[n][cond]["mean"] for n in names], 0.26,
                   yerr=[table[n][cond]["std"] for n in names], capsize=2, label=cond)
        ax.set_xticks(x, [n.replace(" w/o ", "\nw/o ") for n in names], fontsize=7)
        ax.set_ylabel("rank-1 (%)")
        ax.set_ylim(0, 105)
        ax.legend(ncol=3, fontsize=7)
        ax.set_title("CASIA-B layout: rank-1, mean ± std over seeds", fontsize=9)
    for i, (arm, model, runs) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, cols + i + 1)
        for seed, r in sorted(runs.items()):
            ax.plot(r["loss_curve"]["iteration"], r["loss_curve"]["loss"], lw=0.8, label=f"seed {seed}")
            steps = lr_steps(r["settings"]["iterations"])
        for step in steps:
            ax.axvline(step, color="grey", lw=0.6, ls="--")
        ax.set_title(f"{arm}: {model}", fontsize=7)
        ax.tick_params(labelsize=6)
        if i % cols == 0:
            ax.set_ylabel("training loss", fontsize=7)
        if i >= len(panels) - cols:
            ax.set_xlabel("iteration (dashed: lr steps)", fontsize=7)
        if i == 0:
            ax.legend(fontsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    setup_logging()
    if not args.report_only:
        start = time.time()
        cores = os.cpu_count() or 1
        threads = max(1, cores // args.jobs)
        tasks = []
        for seed in args.seed_list:
            if "casia_b" in args.arms:
                tasks += [("casia_b", CASIA_VARIANTS[m], seed) for m in args.models.split(",")]
            if "ccvid_aug" in args.arms:
                tasks += [("ccvid_aug", v, seed) for v in CCVID_VARIANTS.values()
                          if v.name != DLCR_VARIANT or (seed == args.seed_list[0] and not args.no_dlcr)]
        todo = [t for t in tasks if args.overwrite or not _finished(args, *t)]
        print(f"clothing study: {len(tasks)} runs, {len(tasks) - len(todo)} finished already; "
              f"{args.jobs} at a time with {threads} thread(s) each", flush=True)
        data: dict[tuple[str, int], Path] = {}

        def do(task):
            arm, variant, seed = task
            source = data[("dlcr", seed)] if variant.name == DLCR_VARIANT else data[(arm, seed)]
            record = train_and_test(args, arm, variant, seed, source, threads)
            summary = ", ".join(f"{k.split('/')[-2] + ' ' if '/' in k else ''}{k.split('/')[-1]} {100 * v:.1f}"
                                for k, v in record["metrics"].items() if k in (*CONDITIONS, *CC_METRICS))
            print(f"[{arm}] {variant.name} seed {seed}: {summary} ({record['seconds']:.0f} s)", flush=True)
            return record
        for seed in args.seed_list:                       # seed by seed: results arrive in a useful order
            batch = [t for t in todo if t[2] == seed]
            for arm in sorted({t[0] for t in batch}):
                data[(arm, seed)] = (casia_data if arm == "casia_b" else ccvid_data)(args, seed)
            if any(t[1].name == DLCR_VARIANT for t in batch):
                data[("dlcr", seed)] = dlcr_data(args, seed)
            with ThreadPoolExecutor(args.jobs) as pool:
                list(pool.map(do, batch))
        print(f"clothing study: {len(todo)} runs trained in {(time.time() - start) / 60:.1f} min", flush=True)
    payload = report(args, argv)
    print(f"clothing study report ({payload['run_seconds'] / 3600:.1f} h of runs) -> {args.results / 'clothing_study.md'}")
    return 0


def _finished(args, arm: str, variant: Variant, seed: int) -> bool:
    path = result_path(args, arm, variant, seed)
    if not path.exists():
        return False
    return json.loads(path.read_text()).get("settings_hash") == settings_hash(run_settings(args, arm, variant, seed))


if __name__ == "__main__":
    raise SystemExit(run_script(lambda a: main(a, sys.argv[1:]), parse_args()))
