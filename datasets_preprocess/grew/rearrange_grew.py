"""GREW -> the pretreated root in OpenGait's GREW convention, with poses and skeleton maps.

    train/<id>/<seq>/                  -> <id>train/00/<seq>/
    test/gallery/<id>/<seq>/           -> <id>/01/<seq>/, <id>/02/<seq>/ ... (in sequence-name order)
    test/probe/<seq>/                  -> probe/03/<seq>/

Each frame's silhouette <frame>.png and keypoints <frame>_2d_pose.txt (53 values: h, w, then
x, y, confidence of 17 COCO joints) are synchronised and written as
{0_heatmap,1_sil,2_pose}.pkl. GREW's silhouettes are already aligned (64x64): they are written
as they are, like OpenGait's pretreatment does. Training sequences are quality-filtered; gallery
and probe sequences keep every frame (zero keypoints where a pose file is missing).
<out>/grew.json lists TRAIN_SET (<id>train), TEST_SET (gallery ids and "probe") and
TEST_SEQUENCES (every raw gallery and probe folder); drops are counted in
<out>/quality_report.json. OpenGait's local evaluation uses gallery 01 vs 02; the submission CSV
ranks probe/03 against the gallery and has a row for every raw probe folder.

    python datasets_preprocess/grew/rearrange_grew.py --src data/GREW --out data/grew_work
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.image_io import numbered_images, read_masks
from gaitcore.pose_files import PoseFileError, read_grew_pose_txt
from gaitcore.preprocess_runner import (add_common_arguments,
                                        load_quality_rules, require_kept, run_sequences,
                                        summary_line)
from gaitcore.pretreated_io import write_partition
from gaitcore.sequence_builder import BAD_POSE_FILE

POSE_SUFFIX = "_2d_pose.txt"


@dataclass(frozen=True)
class GrewSequence:
    key: str       # <id>train/00/<seq>, <id>/<NN>/<seq> or probe/03/<seq>
    folder: str


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="GREW root with train/ and test/gallery|probe/")
    p.add_argument("--out", required=True,
                   help="working folder (writes pretreated/, grew.json, quality_report.json)")
    p.add_argument("--no-poses", action="store_true",
                   help="silhouettes only (1_sil.pkl), ignoring the pose files")
    add_common_arguments(p)
    return p.parse_args(argv)


def _dirs(folder: Path) -> list[Path]:
    return sorted(Path(e.path) for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def grew_sequences(src: Path) -> list[GrewSequence]:
    """Every GREW sequence folder with its OpenGait-convention key."""
    jobs = []
    if (src / "train").is_dir():
        for sid in _dirs(src / "train"):
            jobs += [GrewSequence(f"{sid.name}train/00/{seq.name}", str(seq)) for seq in _dirs(sid)]
    gallery = src / "test" / "gallery"
    if gallery.is_dir():
        for sid in _dirs(gallery):
            jobs += [GrewSequence(f"{sid.name}/{k:02d}/{seq.name}", str(seq))
                     for k, seq in enumerate(_dirs(sid), start=1)]
    probe = src / "test" / "probe"
    if probe.is_dir():
        jobs += [GrewSequence(f"probe/03/{seq.name}", str(seq)) for seq in _dirs(probe)]
    if not jobs:
        raise UserInputError(f"{src}: no GREW sequences (expected train/<id>/<seq>/, "
                             "test/gallery/<id>/<seq>/ or test/probe/<seq>/)")
    return jobs


def load_grew_sequence(seq: GrewSequence, with_poses: bool = True) -> tuple[dict, dict | None]:
    sils = read_masks(numbered_images(seq.folder, (".png",)))
    if not with_poses:
        return sils, None
    poses = {}
    for entry in os.scandir(seq.folder):
        if entry.name.endswith(POSE_SUFFIX) and entry.name[:-len(POSE_SUFFIX)].isdigit():
            n = int(entry.name[:-len(POSE_SUFFIX)])
            try:
                poses[n] = read_grew_pose_txt(entry.path)[1]
            except PoseFileError:
                poses[n] = BAD_POSE_FILE
    return sils, poses


def load_grew_silhouettes(seq: GrewSequence) -> tuple[dict, None]:
    return load_grew_sequence(seq, with_poses=False)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    rules = load_quality_rules(args.config, "grew", args.quality_rule)
    src, out = Path(args.src), Path(args.out)
    jobs = grew_sequences(src)
    loader = load_grew_silhouettes if args.no_poses else load_grew_sequence
    train_ids = sorted({j.key.split("/")[0] for j in jobs if j.key.split("/")[1] == "00"})
    test_ids = sorted({j.key.split("/")[0] for j in jobs if j.key.split("/")[1] != "00"})
    counts, report = run_sequences(jobs, loader, rules, out, root=out / "pretreated",
                                   gei_root=None, workers=args.workers,
                                   overwrite=args.overwrite, desc="pretreat", test_ids=test_ids,
                                   filter_training=not args.no_quality_filter, prealigned=True)
    print(summary_line("rearrange_grew", counts, report, out / "pretreated"))
    require_kept("rearrange_grew", report, out / "quality_report.json")
    write_partition(out / "grew.json", train_ids, test_ids,
                    TEST_SEQUENCES=[j.key for j in jobs if j.key.split("/")[1] != "00"])
    print(f"partition: {len(train_ids)} train ids, {len(test_ids)} test ids (incl. probe) -> {out / 'grew.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
