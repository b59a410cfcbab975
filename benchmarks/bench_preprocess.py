"""Preprocessing speed: silhouette alignment and skeleton maps (frames/s), per core and with workers.

On a synthetic CASIA-B set (generated unless --data is given) the silhouettes and ground-truth
poses are loaded into memory first, so the figures time the computation only; then the full
rearrange_to_grew.py script is timed end to end (PNG decoding and pickle writing included).
Targets: alignment >= 3,000 frames/s per core, skeleton maps >= 2,000 frames/s per core.

    python benchmarks/bench_preprocess.py [--data data/synthetic_casia_b] [--workers 2]
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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402

from datasets_preprocess.casia_b.casia_b_layout import pose_file, sequence_folders  # noqa: E402
from gaitcore.atomic_files import atomic_write_report  # noqa: E402
from gaitcore.cli import positive_int, run_script  # noqa: E402
from gaitcore.image_io import numbered_images, read_mask  # noqa: E402
from gaitcore.process_memory import peak_rss_bytes  # noqa: E402
from gaitcore.pose_files import read_pose_json  # noqa: E402
from gaitcore.silhouette_alignment import align_silhouette  # noqa: E402
from gaitcore.skeleton_maps import skeleton_maps  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="synthetic casia_b root (default: generate 4 subjects)")
    p.add_argument("--scratch", default=str(REPO / "output/bench/preprocess"),
                   help="working folder (default output/bench/preprocess)")
    p.add_argument("--workers", type=positive_int, default=2, help="most worker processes timed (default 2)")
    p.add_argument("--repeats", type=positive_int, default=3, help="best of N timings (default 3)")
    p.add_argument("--out", default=str(REPO / "benchmarks/results/preprocess_speed.md"),
                   help="markdown result (a .json is written next to it)")
    return p.parse_args(argv)


def load_share(args: tuple[str, str, int, int]):
    raw, _, part, parts = args
    cv2.setNumThreads(1)
    keys = sorted(sequence_folders(Path(raw) / "silhouettes", "silhouettes").items())[part::parts]
    masks, poses = [], []
    for key, folder in keys:
        masks += [m for m in (read_mask(p) for p in numbered_images(folder).values())
                  if not isinstance(m, str)]
        _, kp = read_pose_json(pose_file(Path(raw) / "poses", key))
        poses.append(kp)
    return masks, poses


def time_share(args: tuple[str, str, int, int]) -> tuple[int, float, int, float]:
    """Load one share of the sequences, then time alignment and maps on it (best of 3)."""
    masks, poses = load_share(args)
    repeats = args[1]
    best_align = best_maps = float("inf")
    for _ in range(int(repeats)):
        start = time.perf_counter()
        for m in masks:
            align_silhouette(m)
        best_align = min(best_align, time.perf_counter() - start)
        start = time.perf_counter()
        for kp in poses:
            skeleton_maps(kp)
        best_maps = min(best_maps, time.perf_counter() - start)
    return len(masks), best_align, sum(len(k) for k in poses), best_maps


def main(args: argparse.Namespace) -> int:
    scratch = Path(args.scratch)
    raw = Path(args.data) if args.data else scratch / "raw"
    if not args.data:
        subprocess.run([sys.executable, str(REPO / "datasets_preprocess/synthetic/make_synthetic_gait.py"),
                        "--out", str(raw), "--subjects", "4", "--frames", "30"], check=True)
    rows = {}
    for workers in sorted({1, args.workers}):
        shares = [(str(raw), str(args.repeats), i, workers) for i in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(time_share, shares))
        n_sil, n_pose = sum(r[0] for r in results), sum(r[2] for r in results)
        rows[workers] = {"alignment_fps": n_sil / max(r[1] for r in results),
                         "skeleton_map_fps": n_pose / max(r[3] for r in results),
                         "frames": n_sil}
    end_to_end = {}
    for workers in sorted({1, args.workers}):
        work = scratch / f"work_{workers}"
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run([sys.executable, str(REPO / "datasets_preprocess/casia_b/make_pose_gei.py"),
                        "--silhouettes", str(raw / "silhouettes"), "--pose-from", str(raw / "poses"),
                        "--out", str(work), "--workers", str(workers)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "datasets_preprocess/casia_b/rearrange_to_grew.py"),
                        "--silhouettes", str(raw / "silhouettes"), "--out", str(work),
                        "--workers", str(workers)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        frames = json.loads((work / "quality_report.json").read_text())["summary"]["frames_in"]
        end_to_end[workers] = {"seconds": round(seconds, 2), "frames_per_s": round(frames / seconds)}
    lines = ["# Preprocessing speed", "", "```", "python benchmarks/bench_preprocess.py "
             + " ".join(sys.argv[1:]), "```", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores; synthetic CASIA-B, "
             f"{rows[1]['frames']} frames of 320x240; computation only (inputs in memory), best of "
             f"{args.repeats}.", "",
             "| processes | alignment frames/s | skeleton maps frames/s |", "| --- | --- | --- |"]
    for w, r in rows.items():
        lines.append(f"| {w} | {r['alignment_fps']:.0f} | {r['skeleton_map_fps']:.0f} |")
    lines += ["", "End to end `rearrange_to_grew.py` (PNG decoding, alignment, maps, pickles, "
              "quality log):", "", "| workers | seconds | frames/s |", "| --- | --- | --- |"]
    for w, r in end_to_end.items():
        lines.append(f"| {w} | {r['seconds']} | {r['frames_per_s']} |")
    atomic_write_report(args.out, lines, {"compute": rows, "end_to_end": end_to_end,
                                          "main_process_peak_mib": peak_rss_bytes() / 2**20})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
