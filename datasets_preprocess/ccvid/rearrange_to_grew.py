"""Step 2 (CCVID): person crops -> silhouettes + COCO-17 poses -> the pretreated root.

For every tracklet of ccvid_index.csv (rename_ids.py) the crops are segmented (ultralytics
--seg-model, or --segmenter grabcut with no weights, or --sils-from with precomputed masks)
and their poses estimated (--pose-model, or --pose-from with pose JSON files per tracklet:
<dir>/<session>/<pid>_<clip>.json), then synchronised, quality-filtered, aligned and written as
<out>/pretreated/<id>/<session>_<clothes>/<camera>/{0_heatmap,1_sil,2_pose}.pkl with a GEI in
<out>/gei/ and every drop counted in <out>/quality_report.json. Poses estimated by the model are
also saved as pose JSON in <out>/poses/<session>/<pid>_<clip>.json (ccvid_aug reuses them).

    python datasets_preprocess/ccvid/rearrange_to_grew.py --src data/CCVID --out data/ccvid_work
    python datasets_preprocess/ccvid/rearrange_to_grew.py --src data/synthetic_ccvid --out data/synthetic_ccvid_work --sils-from data/synthetic_ccvid/masks --pose-from data/synthetic_ccvid/poses
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gaitcore.ccvid_layout import read_index
from datasets_preprocess.ccvid.tracklet_loading import SEGMENTERS, TrackletJob, load_tracklet
from gaitcore.cli import DEVICE_HELP, run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.preprocess_runner import (add_common_arguments,
                                        load_quality_rules, require_kept, run_sequences,
                                        summary_line)
from gaitcore.video_walkers import add_detection_arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="CCVID root (session*/<pid>_<clip>/*.jpg)")
    p.add_argument("--out", required=True, help="working folder with ccvid_index.csv "
                                                "(writes pretreated/, gei/, quality_report.json)")
    p.add_argument("--index", help="tracklet index (default <out>/ccvid_index.csv)")
    p.add_argument("--sils-from", help="precomputed masks: <dir>/<session>/<pid>_<clip>/<frame>.png")
    p.add_argument("--segmenter", choices=SEGMENTERS, default="yolo",
                   help="without --sils-from: ultralytics instance segmentation (yolo, default) "
                        "or GrabCut inside the crop (grabcut, needs no weights)")
    p.add_argument("--pose-from", help="precomputed pose JSON: <dir>/<session>/<pid>_<clip>.json")
    add_detection_arguments(p, imgsz=320, help_texts={
        "seg_model": "ultralytics segmentation weights (default {default})",
        "pose_model": "ultralytics pose weights (default {default})", "device": DEVICE_HELP,
        "imgsz": "model input size; crops are small (default {default})"})
    add_common_arguments(p)
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    rules = load_quality_rules(args.config, "ccvid", args.quality_rule)
    src, out = Path(args.src), Path(args.out)
    entries = read_index(args.index or out / "ccvid_index.csv")
    for option in ("sils_from", "pose_from"):
        folder = getattr(args, option)
        if folder and not Path(folder).is_dir():
            raise UserInputError(f"{folder}: --{option.replace('_', '-')} folder not found")
    jobs = [TrackletJob(
        key=e.key, frames=str(src / e.tracklet),
        sils_from=str(Path(args.sils_from) / e.tracklet) if args.sils_from else None,
        pose_file=str(Path(args.pose_from) / f"{e.tracklet}.json") if args.pose_from else None,
        segmenter=args.segmenter, seg_model=args.seg_model, pose_model=args.pose_model,
        device=args.device, imgsz=args.imgsz,
        poses_out=None if args.pose_from else str(out / "poses" / f"{e.tracklet}.json")) for e in entries]
    test_ids = {e.id for e in entries if e.split != "train"}
    counts, report = run_sequences(jobs, load_tracklet, rules, out, root=out / "pretreated",
                                   gei_root=out / "gei", workers=args.workers,
                                   overwrite=args.overwrite, desc="pretreat", test_ids=test_ids,
                                   filter_training=not args.no_quality_filter)
    print(summary_line("rearrange_to_grew (ccvid)", counts, report, out / "pretreated"))
    require_kept("rearrange_to_grew (ccvid)", report, out / "quality_report.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
