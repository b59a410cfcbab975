"""Identify the people walking in a video against an enrolled gallery.

Every person tracked long enough is embedded exactly as enroll_gallery.py does (same detection,
alignment, skeleton maps, quality rules and model) and compared with the gallery: the gallery
identities are ranked by their nearest entry. With --threshold T a walker whose best distance is
above T is reported as "unknown". The gallery must come from the same model and checkpoint.

    python opengait/opengait/tools/identify_walker.py --cfgs <yaml> --ckpt <checkpoint> --gallery gallery.npz \\
        --video probe.mp4 --top-k 5 --threshold 1.0 [--json] [--visualize probe_identified.mp4]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gaitcore.atomic_files import atomic_path
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.video_io import read_video
from gaitcore.video_walkers import (WalkerSource, add_walker_source_arguments, draw_walker,
                                     walker_arrays)
from opengait.engine.sequence_embedding import SequenceEmbedder, add_model_arguments, rank_identities
from opengait.tools.gallery_file import load_gallery

log = logging.getLogger("identify_walker")
UNKNOWN = "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--gallery", required=True, help="gallery file from enroll_gallery.py")
    p.add_argument("--video", required=True, help="the probe video")
    p.add_argument("--top-k", type=int, default=5, help="identities listed per walker (default 5)")
    p.add_argument("--threshold", type=float, default=None,
                   help="best distance above this -> unknown (default: always name the nearest)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--visualize", metavar="OUT.mp4", help="write the video with boxes, skeletons and identities")
    add_walker_source_arguments(p)
    args = p.parse_args(argv)
    if args.top_k < 1:
        p.error("--top-k must be >= 1")
    return args


def identify(walker, arrays, record, embedder, gallery, args) -> dict:
    probe = embedder.embed(arrays)
    enrolled = np.stack(gallery.embeddings)
    if probe.shape != enrolled.shape[1:]:
        raise UserInputError(f"{args.gallery}: gallery embeddings are {tuple(enrolled.shape[1:])}, this model's "
                             f"are {tuple(probe.shape)}; enroll again with this model")
    ranked = rank_identities(probe, enrolled, np.array(gallery.labels), embedder.metric)
    best_label, best_distance, _ = ranked[0]
    # A probe whose embedding is not finite matches nobody (NaN compares false with any threshold).
    unknown = not np.isfinite(best_distance) or (args.threshold is not None and not best_distance <= args.threshold)
    return {"walker": walker.track_id, "first_frame": walker.frames[0], "last_frame": walker.frames[-1],
            "frames_in": record.frames_in, "frames_kept": record.frames_kept,
            "identity": UNKNOWN if unknown else best_label, "distance": _finite(best_distance),
            "ranking": [{"label": label, "distance": _finite(d), "source": gallery.sources[i]}
                        for label, d, i in ranked[:args.top_k]]}


def _finite(value: float) -> float | None:
    """A distance, or None where it is NaN (valid JSON, and printed as no match)."""
    return float(value) if np.isfinite(value) else None


def write_visualization(path: str | Path, video: Path, frames: list[np.ndarray], walkers: list, results: dict) -> None:
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    height, width = frames[0].shape[:2]
    palette = [(0, 200, 255), (255, 128, 0), (180, 0, 255), (0, 255, 128), (255, 0, 128)]
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise UserInputError(f"{path}: OpenCV cannot write this video (use an .mp4 or .avi name)")
        try:
            for index, frame in enumerate(tqdm(frames, desc="visualize", unit="frame")):
                canvas = frame.copy()
                n = index + 1
                for walker in walkers:
                    if n not in walker.boxes:
                        continue
                    result = results.get(walker.track_id)
                    label = (f"{result['identity']} ({result['distance']:.2f})" if result
                             else f"walker {walker.track_id}: too short")
                    pose = None if walker.poses is None else walker.poses.get(n)
                    draw_walker(canvas, walker.boxes[n], pose, label, palette[walker.track_id % len(palette)])
                writer.write(canvas)
        finally:
            writer.release()


def main(args: argparse.Namespace) -> int:
    setup_logging()
    embedder = SequenceEmbedder(args.cfgs, args.ckpt, args.set, args.model_device, args.backend, args.compile)
    gallery = load_gallery(args.gallery)
    gallery.check_model(embedder.identity, args.gallery)
    source = WalkerSource(args, use_pose=embedder.needs_pose)
    source.load_models()
    video = Path(args.video)
    frames = read_video(video)
    walkers = source.walkers(frames, video.stem)
    results = {}
    for walker in walkers:
        arrays, record = walker_arrays(walker, f"{video.stem}/walker{walker.track_id}", source.rules)
        if arrays is None:
            log.warning("%s: walker %d has %d usable frames (of %d; %s), fewer than min_frames %d: not "
                        "identified", video, walker.track_id, record.frames_kept, record.frames_in,
                        record.dropped_frames, source.rules.min_frames)
            continue
        results[walker.track_id] = identify(walker, arrays, record, embedder, gallery, args)
    if args.visualize:
        write_visualization(args.visualize, video, frames, walkers, results)
    if args.json:
        json.dump({"video": str(video), "gallery": str(args.gallery), "threshold": args.threshold,
                   "walkers": list(results.values())}, sys.stdout, indent=1)
        print()
    else:
        for r in results.values():
            why = ""
            if r["distance"] is None:
                why = " (the walker's embedding is not finite: no match)"
            elif r["identity"] == UNKNOWN:
                why = f" (nearest {r['ranking'][0]['label']} at {r['distance']:.3f} > threshold {args.threshold})"
            print(f"walker {r['walker']} (frames {r['first_frame']}-{r['last_frame']}, {r['frames_kept']} used): "
                  f"{r['identity']}{why}")
            for rank, entry in enumerate(r["ranking"], start=1):
                shown = "n/a" if entry["distance"] is None else f"{entry['distance']:.3f}"
                print(f"  {rank}. {entry['label']}  distance {shown}  ({entry['source']})")
    if not results:
        print(f"identify_walker: {video}: nobody tracked for {source.rules.min_frames} usable frames or more",
              file=sys.stderr)
        return 1
    if args.visualize:
        print(f"visualization -> {args.visualize}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
