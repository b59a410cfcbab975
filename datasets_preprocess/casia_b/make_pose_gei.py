"""Step 2 (CASIA-B): COCO-17 poses per frame and a GEI per sequence.

Poses come from an ultralytics pose model run on the split frames (the tracked main walker of
each frame), or with --pose-from from precomputed pose JSON files named
<sid>-<type>-<view>.json (the synthetic ground truth, or your own HRNet/OpenPose output
converted to that format; see docs/synthetic-data.md). They are written to <out>/poses/. Then each
sequence's official silhouettes are synchronised with its poses by frame number,
aligned (training sequences quality-filtered, test ones with every frame, as in
rearrange_to_grew.py), and their mean is written as <out>/gei/<sid>/<type>/<view>.png.

    python datasets_preprocess/casia_b/make_pose_gei.py --silhouettes data/casia_b/silhouettes --frames data/casia_b_work/frames --out data/casia_b_work
    python datasets_preprocess/casia_b/make_pose_gei.py --silhouettes data/synthetic_casia_b/silhouettes --pose-from data/synthetic_casia_b/poses --out data/synthetic_casia_b_work
"""
from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from datasets_preprocess.casia_b.casia_b_layout import (CasiaSequence, check_train_count, key_from_stem,
                                                        load_silhouettes_and_poses, pose_file,
                                                        sequence_folders, split_subjects)
from gaitcore.atomic_files import atomic_write_text
from gaitcore.cli import DEVICE_HELP, positive_int, resolve_device_name, run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.image_io import numbered_images, read_image
from gaitcore.pose_estimation import UltralyticsPoseEstimator, estimate_walker_poses
from gaitcore.pose_files import PoseFileError, format_pose_json, read_pose_json
from gaitcore.preprocess_runner import (add_common_arguments,
                                        load_quality_rules, require_kept, run_sequences,
                                        summary_line)
from gaitcore.video_walkers import add_detection_arguments

log = logging.getLogger("make_pose_gei")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--silhouettes", required=True,
                   help="official silhouettes root (<sid>/<type>/<view>/*.png)")
    p.add_argument("--out", required=True, help="working folder (writes poses/ and gei/)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--frames", help="frames root from split_frames.py (for the pose model)")
    src.add_argument("--pose-from", help="folder of precomputed pose JSON files "
                                         "(<sid>-<type>-<view>.json) instead of a pose model")
    add_detection_arguments(p, seg_model=False, imgsz=640, help_texts={
        "pose_model": "ultralytics pose weights, a path or an official name (default {default})",
        "device": DEVICE_HELP, "imgsz": "pose model input size (default {default})"})
    p.add_argument("--batch-size", type=positive_int, default=16, help="frames per model call (default 16)")
    p.add_argument("--train-count", type=int,
                   help="training subjects, as in rearrange_to_grew.py (decides which GEIs are "
                        "quality-filtered; default 74 of 124, the same share on smaller sets)")
    add_common_arguments(p)
    args = p.parse_args(argv)
    if not args.frames and not args.pose_from:
        p.error("give --frames (run the pose model) or --pose-from (precomputed poses)")
    check_train_count(p, args.train_count)
    return args


def poses_from_files(source: Path, poses_dir: Path, keys: set[str], overwrite: bool) -> Counter:
    """Validate precomputed pose JSONs and copy them (normalised) into poses_dir."""
    if not source.is_dir():
        raise UserInputError(f"{source}: --pose-from folder not found")
    counts = Counter()
    files = sorted(source.glob("*.json"))
    for path in tqdm(files, desc="poses (files)", unit="seq"):
        key = key_from_stem(path.stem)
        if key is None or key not in keys:
            counts["pose_files_unmatched"] += 1
            continue
        target = pose_file(poses_dir, key)
        if target.exists() and not overwrite:
            counts["pose_files_already_done"] += 1
            continue
        try:
            numbers, keypoints = read_pose_json(path)
        except PoseFileError as e:
            counts["pose_files_bad"] += 1
            log.warning("%s", e)
            continue
        size = json.loads(path.read_text()).get("image_size")
        atomic_write_text(target, format_pose_json(keypoints, numbers, size, {"source": str(path)}))
        counts["pose_files_copied"] += 1
    if not files:
        raise UserInputError(f"{source}: no pose JSON files (<sid>-<type>-<view>.json)")
    return counts


def poses_from_model(args: argparse.Namespace, frame_dirs: dict[str, Path], poses_dir: Path) -> Counter:
    estimator = UltralyticsPoseEstimator(args.pose_model, device=resolve_device_name(args.device),
                                         imgsz=args.imgsz, batch_size=args.batch_size)
    counts = Counter()
    for key, folder in tqdm(sorted(frame_dirs.items()), desc="poses (model)", unit="seq"):
        target = pose_file(poses_dir, key)
        if target.exists() and not args.overwrite:
            counts["pose_sequences_already_done"] += 1
            continue
        numbers, frames = [], []
        for n, path in numbered_images(folder).items():
            image = read_image(path)
            if image is None:
                counts["frames_unreadable"] += 1
                continue
            numbers.append(n)
            frames.append(image)
        found = [(n, kp) for n, kp in zip(numbers, estimate_walker_poses(estimator, frames))
                 if kp is not None]
        counts["frames"] += len(frames)
        counts["frames_with_walker"] += len(found)
        size = (frames[0].shape[1], frames[0].shape[0]) if frames else None
        atomic_write_text(target, format_pose_json([kp for _, kp in found], [n for n, _ in found],
                                                   size, {"model": estimator.weights}))
        counts["pose_sequences"] += 1
    return counts


def main(args: argparse.Namespace) -> int:
    setup_logging()
    rules = load_quality_rules(args.config, "casia_b", args.quality_rule)
    out = Path(args.out)
    poses_dir = out / "poses"
    sil_dirs = sequence_folders(args.silhouettes, "silhouettes")
    try:
        _, test_ids = split_subjects(sil_dirs, args.train_count)
    except UserInputError:
        if args.train_count is not None:
            raise
        test_ids = []        # a single subject: no split to make, every GEI is a training one
    if args.pose_from:
        pose_counts = poses_from_files(Path(args.pose_from), poses_dir, set(sil_dirs), args.overwrite)
    else:
        pose_counts = poses_from_model(args, sequence_folders(args.frames, "frames"), poses_dir)
    jobs = [CasiaSequence(key, silhouettes=str(folder), poses=str(pose_file(poses_dir, key)))
            for key, folder in sil_dirs.items()]
    counts, report = run_sequences(jobs, load_silhouettes_and_poses, rules, out, root=None,
                                   gei_root=out / "gei", workers=args.workers,
                                   overwrite=args.overwrite, desc="gei", log_stem="gei_quality",
                                   test_ids=test_ids, filter_training=not args.no_quality_filter)
    log.info("poses: %s", dict(pose_counts))
    print(summary_line("make_pose_gei (GEIs)", counts, report, out / "gei")
          + f"; poses: {dict(pose_counts)}")
    require_kept("make_pose_gei", report, out / "gei_quality_report.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
