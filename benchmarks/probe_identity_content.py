"""How much identity each input keeps, and how much of it survives bags and coats, without training.

For the test ids of a synthetic population, every sequence becomes one average image: the gait
energy image of its silhouettes, or the average of its skeleton maps (drawn from a set of
keypoints exactly as preprocessing draws them, gaitcore/skeleton_maps.py). Each probe average is
matched to the nearest gallery average of the same view (gallery nm-01..04; probes nm-05/06,
bg-01/02, cl-01/02; Euclidean distance after cutting 64 -> 44 columns and resizing as the configs
do). The rank-1 per condition is a floor on what a trained model can read, and its NM -> BG/CL
drop shows how much a condition changes the input. Minutes, where a trained baseline takes an
hour: a screen for generator and keypoint-error changes before the calibration trains on them.

Inputs: the silhouettes; skeleton maps from the population's own keypoints (its error model),
from the exact keypoints, from the exact keypoints with every confidence set to 1 (joints as
drawn with their positions only), and from the error model with one part switched off at a time
(``apply_keypoint_error.py`` on the exact keypoints).

    python benchmarks/probe_identity_content.py --seed 200           # the calibration population (made by
                                                                     # calibrate_benchmark.py --seeds 200)
    python benchmarks/probe_identity_content.py --seed 200 --variants none   # only the fixed rows
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gaitcore.atomic_files import atomic_write_text
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.pose_files import read_pose_json
from gaitcore.pretreated_io import read_partition, read_sequence
from gaitcore.skeleton_maps import skeleton_maps
from study.design import CASIA_GENERATOR
from study.pipelines import Population, work_folder, write_json
from study.runs import PY, run_command

GALLERY = ("nm-01", "nm-02", "nm-03", "nm-04")
PROBES = {"NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02")}
# The population's error model with one part off: changes appended to its name (apply_keypoint_error.py syntax).
PART_OFF = {
    "left/right swaps": "swap_rate=0,coat_swap=0",
    "coat and bag errors and misses": "coat_error=0,coat_miss=0,bag_error=0,bag_miss=0",
    "constant errors (all levels)": "bias=0,bias_global=0,bias_view=0,bias_person=0,bias_person_view=0,bias_clothes=0",
    "jitter and drift": "jitter=0,drift=0",
    "outliers and lost joints": "outlier_rate=0,miss_rate=0",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=200, help="the population's data seed (default 200, a tuning one)")
    p.add_argument("--work", default="output/calibration",
                   help="folder holding the preprocessed population (default output/calibration)")
    p.add_argument("--size", default="32x22", help="image size the averages are compared at, HxW (default 32x22, "
                                                  "the synthetic configs' input)")
    p.add_argument("--variants", default="all", choices=("all", "none"),
                   help="all: also the error model with each part off (about 3 minutes each); none: the fixed rows")
    p.add_argument("--results", default="benchmarks/results", help="report folder (default benchmarks/results)")
    args = p.parse_args(argv)
    try:
        args.hw = tuple(int(v) for v in args.size.lower().split("x"))
        assert len(args.hw) == 2 and min(args.hw) > 0
    except (ValueError, AssertionError):
        p.error(f"--size {args.size!r}: expected HxW, e.g. 32x22")
    return args


def average_image(frames: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(T, H, W) or (T, C, H, W) uint8 -> the cut (64 -> 44 columns), resized mean, flattened."""
    mean = frames.astype(np.float32).mean(0) / 255.0
    mean = mean[..., 10:mean.shape[-1] - 10]
    planes = mean.reshape(-1, *mean.shape[-2:])
    return np.concatenate([cv2.resize(m, (hw[1], hw[0]), interpolation=cv2.INTER_AREA).ravel() for m in planes])


def same_view_rank1(features: dict[tuple[str, str, str], np.ndarray]) -> dict[str, float]:
    """Rank-1 (%) per condition: each probe against the gallery of its own view."""
    out = {}
    views = sorted({k[2] for k in features})
    for condition, probe_types in PROBES.items():
        hits = total = 0
        for view in views:
            keys = [k for k in features if k[2] == view and k[1] in GALLERY]
            if not keys:
                continue
            gallery = np.stack([features[k] for k in keys])
            for k in (k for k in features if k[2] == view and k[1] in probe_types):
                nearest = keys[int(((gallery - features[k]) ** 2).sum(1).argmin())]
                hits += nearest[0] == k[0]
                total += 1
        out[condition] = round(100 * hits / total, 1) if total else float("nan")
    return out


def map_features(keys, pose_dir: Path, hw, flat: bool = False) -> dict:
    features = {}
    for sid, typ, view in tqdm(keys, desc=f"maps from {pose_dir.name}", leave=False):
        _, pose = read_pose_json(pose_dir / f"{sid}-{typ}-{view}.json")
        if flat:
            pose[..., 2] = np.where(pose[..., 2] >= 1e-3, 1.0, 0.0)
        features[(sid, typ, view)] = average_image(skeleton_maps(pose), hw)
    return features


def main(args: argparse.Namespace) -> int:
    setup_logging()
    start = time.time()
    pop = Population(seed=args.seed, **CASIA_GENERATOR)
    raw, work = Path(args.work) / "data" / pop.slug, work_folder(pop, Path(args.work))
    if not (work / "casia_b.json").exists():
        raise UserInputError(f"{work}: not preprocessed; run benchmarks/calibrate_benchmark.py --seeds {args.seed} "
                             "(or study.pipelines.preprocessed) first")
    test = set(read_partition(work / "casia_b.json")["TEST_SET"])
    keys = sorted(k for k in ((*p.relative_to(work / "pretreated").parts,) for p in
                              (work / "pretreated").glob("*/*/*")) if k[0] in test)
    rows = [{"input": "silhouettes (gait energy image)",
             "rank1": same_view_rank1({k: average_image(read_sequence(work / "pretreated" / "/".join(k),
                                                                      ["1_sil"])["1_sil"], args.hw)
                                       for k in tqdm(keys, desc="silhouettes", leave=False)})}]
    rows.append({"input": f"skeleton maps, keypoints of the population ({pop.keypoint_noise})",
                 "rank1": same_view_rank1(map_features(keys, raw / "poses", args.hw))})
    rows.append({"input": "skeleton maps, exact keypoints",
                 "rank1": same_view_rank1(map_features(keys, raw / "poses_exact", args.hw))})
    rows.append({"input": "skeleton maps, exact keypoints, every confidence 1",
                 "rank1": same_view_rank1(map_features(keys, raw / "poses_exact", args.hw, flat=True))})
    if args.variants == "all":
        for part, change in PART_OFF.items():
            model = f"{pop.keypoint_noise},{change}"
            poses = Path(args.work) / "data" / f"{pop.slug}_probe_{''.join(c if c.isalnum() else '_' for c in change)}"
            if not poses.exists():
                run_command([PY, "datasets_preprocess/synthetic/apply_keypoint_error.py", "--src", raw,
                             "--keypoint-noise", model, "--out", poses], f"keypoint error {model}")
            rows.append({"input": f"skeleton maps, {pop.keypoint_noise} without {part}",
                         "rank1": same_view_rank1(map_features(keys, poses, args.hw))})
    lines = ["# Identity content of the inputs, without training", "", "```",
             "python benchmarks/probe_identity_content.py " + " ".join(sys.argv[1:]), "```", "",
             f"Population: data seed {args.seed} ({pop.slug}), its {len(test)} test ids, {len(keys)} sequences. "
             f"Same-view nearest neighbour on each sequence's average image at {args.hw[0]}x{args.hw[1]} "
             "(gallery nm-01..04), rank-1 (%) per probe condition; the drop from NM shows how much bags "
             "and coats change the input.", "",
             "| input | NM | BG | CL | CL / NM |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        q = r["rank1"]
        lines.append(f"| {r['input']} | {q['NM']:.1f} | {q['BG']:.1f} | {q['CL']:.1f} | {q['CL'] / q['NM']:.2f} |")
    results = Path(args.results)
    atomic_write_text(results / "identity_content.md", "\n".join(lines) + "\n")
    write_json(results / "identity_content.json", {"seed": args.seed, "size": list(args.hw), "rows": rows})
    print("\n".join(lines[-len(rows) - 2:]))
    print(f"identity content: {len(rows)} inputs in {(time.time() - start) / 60:.1f} min -> "
          f"{results / 'identity_content.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
