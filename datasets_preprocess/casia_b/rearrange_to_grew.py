"""Step 3 (CASIA-B): write the pretreated root and the partition JSON.

For every sequence the official silhouettes and the poses from make_pose_gei.py are
synchronised by frame number and quality-filtered; kept frames become
<out>/pretreated/<sid>/<type>/<view>/{0_heatmap,1_sil,2_pose}.pkl. <out>/casia_b.json holds
the split: subjects 001-074 train and 075-124 test on the real dataset (the same share on
smaller sets, or --train-count). Every dropped frame and sequence is counted with its reason in
<out>/quality_report.json.

    python datasets_preprocess/casia_b/rearrange_to_grew.py --silhouettes data/casia_b/silhouettes --out data/casia_b_work
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from datasets_preprocess.casia_b.casia_b_layout import (CasiaSequence, default_train_count,
                                                        load_silhouettes_and_poses,
                                                        sequence_folders)
from datasets_preprocess.common.cli import UserInputError, run_script, setup_logging
from datasets_preprocess.common.preprocess_runner import (add_common_arguments,
                                                          load_quality_rules, run_sequences,
                                                          summary_line)
from datasets_preprocess.common.pretreated_io import write_partition

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
    p.add_argument("--train-count", type=int,
                   help="how many subjects (in id order) train (default 74 of 124; same share on smaller sets)")
    add_common_arguments(p)
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    rules = load_quality_rules(args.config, "casia_b", args.quality_rule)
    out = Path(args.out)
    poses_dir = Path(args.poses) if args.poses else out / "poses"
    if not args.no_poses and not poses_dir.is_dir():
        raise UserInputError(f"{poses_dir}: no poses folder; run make_pose_gei.py first "
                             "(or pass --poses, or --no-poses for silhouettes only)")
    sil_dirs = sequence_folders(args.silhouettes, "silhouettes")
    jobs = [CasiaSequence(key, silhouettes=str(folder),
                          poses=None if args.no_poses else str(poses_dir / f"{key.replace('/', '-')}.json"))
            for key, folder in sil_dirs.items()]
    loader = load_silhouettes_only if args.no_poses else load_silhouettes_and_poses
    counts, report = run_sequences(jobs, loader, rules, out, root=out / "pretreated",
                                   gei_root=None, workers=args.workers, overwrite=args.overwrite,
                                   desc="pretreat")
    subjects = sorted({key.split("/")[0] for key in sil_dirs})
    n_train = args.train_count if args.train_count is not None else default_train_count(len(subjects))
    if not 0 < n_train < len(subjects):
        raise UserInputError(f"--train-count {n_train}: must leave train and test subjects "
                             f"(there are {len(subjects)})")
    write_partition(out / "casia_b.json", subjects[:n_train], subjects[n_train:])
    print(summary_line("rearrange_to_grew", counts, report, out / "pretreated")
          + f"; partition {n_train} train / {len(subjects) - n_train} test ids -> {out / 'casia_b.json'}")
    return 0


def load_silhouettes_only(seq: CasiaSequence):
    sils, _ = load_silhouettes_and_poses(seq)
    return sils, None


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
