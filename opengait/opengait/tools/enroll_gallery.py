"""Enroll walkers from videos into a gallery file, with a trained model.

For each video: detect and track the walker, segment silhouettes and estimate COCO-17 poses
(ultralytics --seg-model / --pose-model, or --sils-from / --pose-from precomputed files), align
and draw skeleton maps with the preprocessing's own functions and quality rules, embed with the
model, and store embedding + label + source video + frame counts. When a video shows several
people, the one tracked longest is enrolled. The gallery records the model it was made with.
Re-running adds new videos and skips enrolled ones; --overwrite starts a new gallery.

    python opengait/opengait/tools/enroll_gallery.py --cfgs <yaml> --ckpt <run>/checkpoints/<name>-<iter>.pt \\
        --videos data/my_videos --labels data/my_videos/labels.csv --out gallery.npz

labels.csv: a header ``video,label``; ``video`` is the file name (or the path relative to --videos).
"""
from __future__ import annotations

import argparse
import csv
import logging
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from gaitcore.cli import EXPECTED_ERRORS, run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.video_io import read_video
from gaitcore.video_walkers import (WalkerSource, add_walker_source_arguments, list_videos,
                                     walker_arrays)
from opengait.engine.sequence_embedding import SequenceEmbedder, add_model_arguments
from opengait.tools.gallery_file import Gallery, load_gallery

log = logging.getLogger("enroll_gallery")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--videos", required=True, help="a folder of videos, a text file listing them, or one video")
    p.add_argument("--labels", required=True, help="CSV with columns video,label")
    p.add_argument("--out", default="gallery.npz", help="gallery file (default gallery.npz)")
    p.add_argument("--overwrite", action="store_true", help="start a new gallery instead of adding to --out")
    add_walker_source_arguments(p)
    return p.parse_args(argv)


def read_labels(path: str | Path, videos_root: Path) -> dict[str, str]:
    """``{video key: label}``; keys are paths relative to the videos folder and bare file names."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: labels file not found")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"video", "label"} <= set(reader.fieldnames):
            raise UserInputError(f"{path}: expected a header with the columns video,label "
                                 f"(found {reader.fieldnames})")
        labels = {}
        for line, row in enumerate(reader, start=2):
            video, label = (row["video"] or "").strip(), (row["label"] or "").strip()
            if not video or not label:
                raise UserInputError(f"{path}:{line}: empty video or label")
            labels[video] = label
    return labels


def label_of(video: Path, root: Path, labels: dict[str, str]) -> str | None:
    try:
        rel = str(video.relative_to(root)) if root.is_dir() else video.name
    except ValueError:
        rel = video.name
    return labels.get(rel) or labels.get(video.name) or labels.get(video.stem)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    embedder = SequenceEmbedder(args.cfgs, args.ckpt, args.set, args.model_device, args.backend, args.compile)
    root = Path(args.videos)
    videos = list_videos(root)
    if not videos:
        raise UserInputError(f"{root}: no videos found")
    labels = read_labels(args.labels, root)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        gallery = load_gallery(out)
        gallery.check_model(embedder.identity, out)
    else:
        gallery = Gallery(embedder.identity)
    enrolled = set(gallery.sources)
    source = WalkerSource(args, use_pose=embedder.needs_pose)
    source.load_models()
    counts = Counter()
    for video in tqdm(videos, desc="enroll", unit="video"):
        if str(video) in enrolled:
            counts["already_enrolled"] += 1
            continue
        label = label_of(video, root, labels)
        if label is None:
            log.warning("%s: no label in %s, skipped", video, args.labels)
            counts["no_label"] += 1
            continue
        try:
            frames = read_video(video)
            walkers = source.walkers(frames, video.stem)
        except EXPECTED_ERRORS as e:
            log.warning("%s: %s, skipped", video, e)
            counts["unreadable"] += 1
            continue
        if not walkers:
            log.warning("%s: no person tracked for %d frames or more, skipped", video, source.rules.min_frames)
            counts["no_person"] += 1
            continue
        walker = max(walkers, key=len)
        arrays, record = walker_arrays(walker, video.stem, source.rules)
        if arrays is None:
            log.warning("%s: %d of %d frames pass the quality rules (%s), fewer than min_frames %d; skipped",
                        video, record.frames_kept, record.frames_in, record.dropped_frames, source.rules.min_frames)
            counts["too_short"] += 1
            continue
        gallery.add(embedder.embed(arrays), label, str(video), record.frames_in, record.frames_kept,
                    walker.track_id)
        counts["enrolled"] += 1
    if counts["enrolled"]:
        gallery.save(out)
    skipped = {k: v for k, v in counts.items() if k not in ("enrolled", "already_enrolled")}
    print(f"enroll_gallery: {counts['enrolled']} enrolled, {counts['already_enrolled']} already in the gallery, "
          f"skipped {skipped or 'none'}; {len(gallery)} entries of {len(set(gallery.labels))} identities -> {out}")
    return 0 if counts["enrolled"] or counts["already_enrolled"] else 1


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
