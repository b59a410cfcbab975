"""ccvid_aug step 2: augmented tracklets -> new training sequences in the CCVID pretreated root.

Silhouettes come from segmenting the repainted frames (the clothes, hence the silhouette, have
changed): --segmenter yolo (--seg-model) or grabcut, or --sils-from. Poses are the source
frames' (the body did not move), read from --pose-from (default <work>/poses, written by
datasets_preprocess/ccvid/rearrange_to_grew.py). Each augmented tracklet becomes
<id>/aug<v>_<session>_<source clothes>/<camera> under the same identity, in <work>/pretreated,
with drops counted in <work>/aug_quality_report.json.

    python datasets_preprocess/ccvid_aug/rearrange_to_grew.py --aug data/ccvid_aug --work data/ccvid_work
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gaitcore.ccvid_layout import read_index
from datasets_preprocess.ccvid.tracklet_loading import SEGMENTERS, TrackletJob, load_tracklet
from datasets_preprocess.ccvid_aug.augmented_index import read_augmented_index
from gaitcore.cli import DEVICE_HELP, run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.preprocess_runner import (add_common_arguments, load_quality_rules,
                                        require_kept, run_sequences, summary_line)
from gaitcore.video_walkers import add_detection_arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--aug", required=True, help="augmented tracklets root (crop_augmented_k5.py --out)")
    p.add_argument("--work", required=True, help="the CCVID working folder (ccvid_index.csv, pretreated/)")
    p.add_argument("--pose-from", help="pose JSON of the source tracklets (default <work>/poses)")
    p.add_argument("--sils-from", help="precomputed masks: <dir>/<augmented tracklet>/<frame>.png")
    p.add_argument("--segmenter", choices=SEGMENTERS, default="yolo",
                   help="person masks from a YOLO segmentation model, or from GrabCut seeded by the pose (no weights; default yolo)")
    add_detection_arguments(p, pose_model=False, imgsz=320, help_texts={
        "seg_model": "segmentation weights for --segmenter yolo (default {default})", "device": DEVICE_HELP,
        "imgsz": "segmentation model input size; crops are small (default {default})"})
    add_common_arguments(p)
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    rules = load_quality_rules(args.config, "ccvid", args.quality_rule)
    aug, work = Path(args.aug), Path(args.work)
    sources = {e.tracklet: e for e in read_index(work / "ccvid_index.csv")}
    poses = Path(args.pose_from) if args.pose_from else work / "poses"
    if not poses.is_dir():
        raise UserInputError(f"{poses}: no source poses; give --pose-from (the folder of pose JSON "
                             "per source tracklet)")
    jobs, missing = [], 0
    for row in read_augmented_index(aug):
        source = sources.get(row.source)
        if source is None:
            missing += 1
            continue
        if source.split != "train":
            raise UserInputError(f"{row.tracklet}: augmented from {row.source}, a {source.split} "
                                 "tracklet; only training tracklets may be augmented")
        jobs.append(TrackletJob(
            key=f"{source.id}/{row.sequence_type(source.type)}/{source.view}", frames=str(aug / row.tracklet),
            sils_from=str(Path(args.sils_from) / row.tracklet) if args.sils_from else None,
            pose_file=str(poses / f"{row.source}.json"), segmenter=args.segmenter,
            seg_model=args.seg_model, device=args.device, imgsz=args.imgsz))
    counts, report = run_sequences(jobs, load_tracklet, rules, work, root=work / "pretreated",
                                   gei_root=None, workers=args.workers, overwrite=args.overwrite,
                                   desc="pretreat aug", log_stem="aug_quality",
                                   filter_training=not args.no_quality_filter)
    print(summary_line("rearrange_to_grew (ccvid_aug)", counts, report, work / "pretreated")
          + (f"; {missing} augmented tracklets without a source in the index" if missing else ""))
    require_kept("rearrange_to_grew (ccvid_aug)", report, work / "aug_quality_report.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
