"""Step 3 (CASIA-B): write the pretreated root and the partition JSON.

For every sequence the official silhouettes and the poses from make_pose_gei.py are
synchronised by frame number; training sequences are quality-filtered, test sequences keep
every frame with a silhouette (zero keypoints where no pose was found). The frames become
<out>/pretreated/<sid>/<type>/<view>/{0_heatmap,1_sil,2_pose}.pkl. <out>/casia_b.json holds
the split: subjects 001-074 train and 075-124 test on the real dataset (the same share on
smaller sets, or --train-count), and TEST_SEQUENCES, every sequence of a test id that the
dataset's videos (--videos, or the videos/ folder beside the silhouettes) or its silhouette
folders list (what the evaluator expects: a sequence without usable frames counts as a miss). Every dropped frame and sequence is counted with its reason in
<out>/quality_report.json.

    python datasets_preprocess/casia_b/rearrange_to_grew.py --silhouettes data/casia_b/silhouettes --out data/casia_b_work
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from datasets_preprocess.casia_b.casia_b_layout import (CasiaSequence, check_train_count,
                                                        load_silhouettes_and_poses, pose_file,
                                                        sequence_folders, split_subjects, video_index)
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.preprocess_runner import (add_common_arguments,
                                        load_quality_rules, require_kept, run_sequences,
                                        summary_line)
from gaitcore.pretreated_io import write_partition

log = logging.getLogger("rearrange_to_grew")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--silhouettes", required=True,
                   help="official silhouettes root (<sid>/<type>/<view>/*.png)")
    p.add_argument("--out", required=True,
                   help="working folder: reads poses/, writes pretreated/, casia_b.json, quality_report.json")
    p.add_argument("--poses", help="pose JSON folder (default <out>/poses from make_pose_gei.py)")
    p.add_argument("--no-poses", action="store_true",
                   help="silhouettes only: write 1_sil.pkl without poses or skeleton maps")
    p.add_argument("--videos",
                   help="CASIA-B's videos (<sid>-<type>-<view>.avi): every test sequence they list is expected "
                        "by the evaluator, with or without silhouettes (default: the videos/ folder beside "
                        "--silhouettes when there is one; else the silhouette folders are the index)")
    p.add_argument("--train-count", type=int,
                   help="how many subjects (in id order) train (default 74 of 124; same share on smaller sets)")
    add_common_arguments(p)
    args = p.parse_args(argv)
    check_train_count(p, args.train_count)
    return args


def main(args: argparse.Namespace) -> int:
    setup_logging()
    rules = load_quality_rules(args.config, "casia_b", args.quality_rule)
    out = Path(args.out)
    poses_dir = Path(args.poses) if args.poses else out / "poses"
    if not args.no_poses and not poses_dir.is_dir():
        raise UserInputError(f"{poses_dir}: no poses folder; run make_pose_gei.py first "
                             "(or pass --poses, or --no-poses for silhouettes only)")
    sil_dirs = sequence_folders(args.silhouettes, "silhouettes")
    train_ids, test_ids = split_subjects(sil_dirs, args.train_count)
    jobs = [CasiaSequence(key, silhouettes=str(folder),
                          poses=None if args.no_poses else str(pose_file(poses_dir, key)))
            for key, folder in sil_dirs.items()]
    loader = load_silhouettes_only if args.no_poses else load_silhouettes_and_poses
    counts, report = run_sequences(jobs, loader, rules, out, root=out / "pretreated",
                                   gei_root=None, workers=args.workers, overwrite=args.overwrite,
                                   desc="pretreat", test_ids=test_ids,
                                   filter_training=not args.no_quality_filter)
    print(summary_line("rearrange_to_grew", counts, report, out / "pretreated"))
    require_kept("rearrange_to_grew", report, out / "quality_report.json")
    test_set = set(test_ids)
    videos = Path(args.videos) if args.videos else Path(args.silhouettes).parent / "videos"
    index = set(sil_dirs) | (video_index(videos) if args.videos or videos.is_dir() else set())
    write_partition(out / "casia_b.json", train_ids, test_ids,
                    TEST_SEQUENCES=sorted(key for key in index if key.split("/")[0] in test_set))
    print(f"partition: {len(train_ids)} train / {len(test_ids)} test ids -> {out / 'casia_b.json'}")
    return 0


def load_silhouettes_only(seq: CasiaSequence):
    sils, _ = load_silhouettes_and_poses(seq)
    return sils, None


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
