"""ccvid_aug step 1: turn DLCR's repainted frames into person-crop tracklets, k variants each.

Reads the stage-4 records (dlcr/sd_inpaint/inpaint_clothes.py) and, for every augmented source
tracklet, keeps k of its variants (default 10: all of stage 4's ten, the project's setting --
25% of the training tracklets x 10 outfits all reach training; DLCR's own script, whose name
this one keeps, kept 5; a seeded choice, the same for all frames) and
writes each as a CCVID-style tracklet <out>/<session>/<pid>_<clip>_aug<v>/<frame>.jpg with
<out>/augmented_index.csv (source tracklet, variant, target outfit, prompt). CCVID frames are
person crops already (--crop none, the default); --crop pose crops full frames to the source
frame's keypoint box (+10% margin) from --pose-from.

    python datasets_preprocess/ccvid_aug/crop_augmented_k5.py --inpainted data/dlcr/inpainted --out data/ccvid_aug
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from datasets_preprocess.ccvid_aug.augmented_index import AugmentedTracklet, write_augmented_index
from gaitcore.atomic_files import atomic_write_files
from gaitcore.augmented_names import augmented_tracklet
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.image_io import read_image
from gaitcore.pose_files import read_pose_json
from gaitcore.jsonl_records import read_records
from gaitcore.seeding import stable_int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inpainted", required=True, help="stage-4 output root (with inpaint.jsonl)")
    p.add_argument("--records", help="stage-4 JSONL (default <inpainted>/inpaint.jsonl)")
    p.add_argument("--out", required=True, help="root of the augmented CCVID-style tracklets")
    p.add_argument("--k", type=int, default=10,
                   help="variants kept per source tracklet (default 10: all of stage 4's; DLCR's script kept 5)")
    p.add_argument("--crop", choices=("none", "pose"), default="none",
                   help="none: the frames are person crops already (CCVID); pose: crop full frames to the "
                        "source frame's keypoint box")
    p.add_argument("--pose-from", help="pose JSON per source tracklet (for --crop pose)")
    p.add_argument("--seed", type=int, default=0, help="seed of the choice of variants (default 0)")
    p.add_argument("--overwrite", action="store_true", help="rewrite tracklets that exist")
    args = p.parse_args(argv)
    if args.crop == "pose" and not args.pose_from:
        p.error("--crop pose needs --pose-from")
    if args.k < 1:
        p.error("--k must be >= 1")
    return args


def pose_box(keypoints: np.ndarray, shape, margin: float = 0.1):
    seen = keypoints[keypoints[:, 2] > 0.3]
    if len(seen) < 3:
        return None
    x0, y0 = seen[:, :2].min(0)
    x1, y1 = seen[:, :2].max(0)
    m = margin * (y1 - y0)
    h, w = shape[:2]
    return (max(int(x0 - m), 0), max(int(y0 - 2 * m), 0), min(int(x1 + m) + 1, w), min(int(y1 + m) + 1, h))


def main(args: argparse.Namespace) -> int:
    setup_logging()
    root, out = Path(args.inpainted), Path(args.out)
    if args.crop == "pose" and not Path(args.pose_from).is_dir():
        raise UserInputError(f"{args.pose_from}: --pose-from folder not found (needed by --crop pose)")
    read = Counter()
    records = read_records(args.records or root / "inpaint.jsonl", counts=read)
    if not records:
        raise UserInputError(f"{args.records or root / 'inpaint.jsonl'}: no inpainting records")
    by_variant = defaultdict(list)
    for rec in records.values():
        by_variant[(rec["tracklet"], int(rec["variant"]))].append(rec)
    variants_of = defaultdict(list)
    for tracklet, v in by_variant:
        variants_of[tracklet].append(v)
    rows, counts = [], Counter()
    if read["torn_last_lines"]:
        counts["records_torn_last_lines"] = read["torn_last_lines"]
    for tracklet in tqdm(sorted(variants_of), desc="crop", unit="tracklet"):
        variants = sorted(variants_of[tracklet])
        rng = np.random.default_rng(stable_int(args.seed, tracklet))
        keep = sorted(rng.choice(variants, size=min(args.k, len(variants)), replace=False).tolist())
        poses = {}
        if args.crop == "pose":
            path = Path(args.pose_from) / f"{tracklet}.json"
            if path.exists():
                numbers, kps = read_pose_json(path)
                poses = dict(zip(numbers.tolist(), kps))
        for v in keep:
            recs = sorted(by_variant[(tracklet, v)], key=lambda r: r["source"])
            name = augmented_tracklet(tracklet, v)
            target = out / name
            if target.is_dir() and not args.overwrite:
                counts["tracklets_already_done"] += 1
            else:
                files = {}
                for rec in recs:
                    image = read_image(root / rec["output"])
                    if image is None:
                        counts["unreadable_frames"] += 1
                        continue
                    if args.crop == "pose":
                        number = int(Path(rec["source"]).stem)
                        box = pose_box(poses[number], image.shape) if number in poses else None
                        if box is None:
                            counts["frames_without_pose_box"] += 1
                            continue
                        image = image[box[1]:box[3], box[0]:box[2]]
                    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
                    files[Path(rec["source"]).stem + ".jpg"] = buf.tobytes()
                if not files:
                    continue
                atomic_write_files(target, files, overwrite=True)
                counts["tracklets_written"] += 1
                counts["frames_written"] += len(files)
            first = recs[0]
            rows.append(AugmentedTracklet(name, tracklet, v, first["pid"], first["target_outfit"],
                                          first["target_pid"], first["prompt"]))
        counts["variants_skipped"] += len(variants) - len(keep)
    index = write_augmented_index(out, rows)
    print(f"crop_augmented_k5: {counts['tracklets_written']} tracklets written "
          f"({counts['frames_written']} frames), {counts['tracklets_already_done']} already done, "
          f"{counts['variants_skipped']} variants beyond k={args.k} left out, "
          f"{counts['unreadable_frames']} unreadable frames"
          + (f", {counts['records_torn_last_lines']} record line cut short by a killed writer dropped"
             if counts["records_torn_last_lines"] else "") + f" -> {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
