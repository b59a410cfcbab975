"""Silhouettes and poses of one CCVID tracklet (person crops), from models or from files."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gaitcore.cli import resolve_device_name
from gaitcore.image_io import numbered_images, read_image, read_mask
from gaitcore.pose_estimation import cached_pose_estimator, estimate_walker_poses
from gaitcore.atomic_files import atomic_write_text
from gaitcore.pose_files import format_pose_json, read_pose_json
from gaitcore.segmentation import cached_segmenter, grabcut_person, walker_masks

UNREADABLE_FRAME = "unreadable_frame"
NO_PERSON_MASK = "no_person_mask"
SEGMENTERS = ("yolo", "grabcut")


@dataclass(frozen=True)
class TrackletJob:
    """What one worker needs to build one sequence (picklable)."""

    key: str                      # <id>/<session>_<clothes>/<camera>
    frames: str                   # folder of the tracklet's crops
    sils_from: str | None = None  # folder of precomputed masks for this tracklet
    pose_file: str | None = None  # precomputed pose JSON for this tracklet
    segmenter: str = "yolo"       # yolo | grabcut (when sils_from is None)
    seg_model: str = "yolo11n-seg.pt"
    pose_model: str = "yolo11n-pose.pt"
    device: str = "auto"          # a --device name ("auto": CUDA if present)
    imgsz: int = 320
    poses_out: str | None = None  # where to save model poses (pose JSON) for reuse, e.g. by ccvid_aug


def load_tracklet(job: TrackletJob) -> tuple[dict, dict]:
    """Silhouettes and poses keyed by frame number (reason strings for unusable frames)."""
    files = numbered_images(job.frames, (".jpg", ".jpeg", ".png"))
    numbers, frames, sils = [], [], {}
    for n, path in files.items():
        image = read_image(path)
        if image is None:
            sils[n] = UNREADABLE_FRAME
            continue
        numbers.append(n)
        frames.append(image)
    if job.sils_from is not None:
        masks = numbered_images(job.sils_from, (".png",)) if Path(job.sils_from).is_dir() else {}
        for n in numbers:
            sils[n] = read_mask(masks[n]) if n in masks else NO_PERSON_MASK
    elif job.segmenter == "grabcut":
        for n, image in zip(numbers, frames):
            sils[n] = grabcut_person(image)
    else:
        segmenter = cached_segmenter(job.seg_model, resolve_device_name(job.device), job.imgsz)
        for n, mask in zip(numbers, walker_masks(segmenter, frames)):
            sils[n] = NO_PERSON_MASK if mask is None else mask
    if job.pose_file is not None:
        if Path(job.pose_file).exists():
            pose_numbers, keypoints = read_pose_json(job.pose_file)
            poses = {int(n): kp for n, kp in zip(pose_numbers, keypoints)}
        else:
            poses = {}
    else:
        estimator = cached_pose_estimator(job.pose_model, resolve_device_name(job.device), job.imgsz)
        poses = {n: kp for n, kp in zip(numbers, estimate_walker_poses(estimator, frames))
                 if kp is not None}
        if job.poses_out is not None:
            atomic_write_text(job.poses_out, format_pose_json([poses[n] for n in sorted(poses)], sorted(poses),
                                                              None, {"model": job.pose_model}))
    return sils, poses
