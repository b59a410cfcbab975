"""Step 1 (CASIA-B): split the videos into numbered frames for the pose model.

videos/<sid>-<type>-<view>.avi  ->  <out>/<sid>/<type>/<view>/<frame:03d>.jpg (frame = index + 1,
the numbering of the official silhouettes). Videos are processed in parallel; a finished
video is skipped on a re-run; an unreadable video is reported and skipped; a video cut short
keeps the frames before the cut (the frame the cut falls in is dropped). Not needed when
poses come from --pose-from in make_pose_gei.py.

    python datasets_preprocess/casia_b/split_frames.py --videos data/casia_b/videos --out data/casia_b_work/frames
"""
from __future__ import annotations

import argparse
import functools
import logging
from collections import Counter
from pathlib import Path

import cv2

from datasets_preprocess.casia_b.casia_b_layout import key_from_stem
from gaitcore.atomic_files import atomic_write_files, remove_stale_temps
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.parallel import default_workers, parallel_map
from gaitcore.video_io import (VideoReadError, declared_frame_count,
                               iter_video_frames)

log = logging.getLogger("split_frames")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", required=True, help="folder of CASIA-B videos (<sid>-<type>-<view>.avi)")
    p.add_argument("--out", required=True, help="frames root to write")
    p.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality (default 95)")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="worker processes (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="split videos again")
    args = p.parse_args(argv)
    if not 0 <= args.jpeg_quality <= 100:
        p.error(f"--jpeg-quality {args.jpeg_quality}: must be between 0 and 100")
    return args


def split_video(video: Path, out: Path, quality: int) -> tuple[str, int, str | None]:
    """Write one video's frames; return (status, frames, error message)."""
    key = key_from_stem(video.stem)
    target = out / key
    remove_stale_temps(target.parent, target.name)
    files = {}
    try:
        for i, frame in enumerate(iter_video_frames(video)):
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
            files[f"{i + 1:03d}.jpg"] = buf.tobytes()
    except VideoReadError as e:
        return "failed", 0, str(e)
    declared = declared_frame_count(video)
    decoded = len(files)
    if declared > decoded:
        # The decoder also returns the frame the file breaks off in, its missing part filled in:
        # the last decoded frame of a cut-off video is dropped (one whole frame may go with it
        # when the cut falls exactly between two frames).
        files.pop(f"{decoded:03d}.jpg")
        if not files:
            return "failed", 0, f"{video}: truncated within its first frame"
    atomic_write_files(target, files, overwrite=True)
    if declared > decoded:
        return "truncated", len(files), (f"{video}: truncated, decoded {decoded} of {declared} frames "
                                         f"(kept the first {len(files)}; the last one may be cut off)")
    return "split", len(files), None


def main(args: argparse.Namespace) -> int:
    setup_logging()
    videos_dir, out = Path(args.videos), Path(args.out)
    if not videos_dir.is_dir():
        raise UserInputError(f"{videos_dir}: videos folder not found")
    videos = sorted(p for p in videos_dir.iterdir() if p.suffix.lower() in (".avi", ".mp4"))
    counts = Counter()
    named = []
    for video in videos:
        key = key_from_stem(video.stem)
        if key is None:
            counts["skipped_bad_name"] += 1
            log.warning("%s: not a CASIA-B video name (<sid>-<type>-<view>.avi); skipped", video)
        elif (out / key).is_dir() and not args.overwrite:
            counts["already_done"] += 1
        else:
            named.append(video)
    if not named and not counts["already_done"]:
        raise UserInputError(f"{videos_dir}: no CASIA-B videos (<sid>-<type>-<view>.avi) found")
    worker = functools.partial(split_video, out=out, quality=args.jpeg_quality)
    for status, n_frames, error in parallel_map(worker, named, args.workers, "split", "video"):
        counts[status] += 1
        counts["frames"] += n_frames
        if error:
            log.warning(error)
    print(f"split_frames: {counts['split'] + counts['truncated']} videos split "
          f"({counts['frames']} frames; {counts['truncated']} truncated), "
          f"{counts['already_done']} already done, {counts['failed']} unreadable, "
          f"{counts['skipped_bad_name']} with other names -> {out}")
    nothing = not (counts["split"] or counts["truncated"] or counts["already_done"])
    return 1 if counts["failed"] and nothing else 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
