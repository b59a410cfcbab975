"""Keypoint files: the project's pose JSON (``--pose-from``) and GREW's ``*_2d_pose.txt``.

Pose JSON, one file per sequence (the synthetic ground truth uses it; convert your own
HRNet/OpenPose output to it to skip the pose model)::

    {"format": "coco17", "image_size": [width, height],
     "frames": [{"frame": 1, "keypoints": [[x, y, confidence], ... 17 rows]}, ...]}

``frame`` is the frame number the keypoints belong to (for CASIA-B: the silhouette file's
number = video frame index + 1; for CCVID: the image file's number). Coordinates are pixels of
that frame/image; a joint that was not found has confidence 0. Other keys are ignored.

GREW ``<frame>_2d_pose.txt``: one line of 53 comma-separated numbers, ``h, w`` of the original
image, then ``x, y, confidence`` of the 17 COCO joints in original-image pixels.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from gaitcore.errors import PoseFileError
from gaitcore.pretreated_io import NUM_JOINTS, read_json

COCO17_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear",
                "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                "left_wrist", "right_wrist", "left_hip", "right_hip",
                "left_knee", "right_knee", "left_ankle", "right_ankle")
GREW_POSE_VALUES = 2 + NUM_JOINTS * 3


def format_pose_json(keypoints: np.ndarray, frame_numbers: Iterable[int],
                     image_size: tuple[int, int] | None, extra: dict | None = None,
                     exact: bool = False) -> str:
    """Serialise (T, 17, 3) keypoints to the pose JSON text (``image_size`` may be None when
    the images differ in size, e.g. person crops). Coordinates are rounded to 0.01 px and
    confidences to 0.001, unless ``exact`` (every float32 value reads back unchanged)."""
    def value(v, digits):
        return float(v) if exact else round(float(v), digits)
    frames = [{"frame": int(n), "keypoints": [[value(x, 2), value(y, 2), value(c, 3)] for x, y, c in kp]}
              for n, kp in zip(frame_numbers, keypoints)]
    doc = {"format": "coco17", "keypoint_names": list(COCO17_NAMES)}
    if image_size is not None:
        doc["image_size"] = [int(image_size[0]), int(image_size[1])]
    doc.update(extra or {})
    doc["frames"] = frames
    return json.dumps(doc, separators=(",", ":")) + "\n"


def read_pose_json(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a pose JSON; return ``(frame_numbers (T,) int64, keypoints (T, 17, 3) float32)``."""
    path = Path(path)
    doc = read_json(path, "pose file", PoseFileError)
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list):
        raise PoseFileError(f"{path}: expected an object with a 'frames' list")
    if doc.get("format", "coco17") != "coco17":
        raise PoseFileError(f"{path}: format {doc.get('format')!r}, only 'coco17' is supported")
    numbers, keypoints = [], []
    for k, frame in enumerate(doc["frames"]):
        try:
            kp = np.asarray(frame["keypoints"], np.float32)
            number = int(frame["frame"])
        except (KeyError, TypeError, ValueError) as e:
            raise PoseFileError(f"{path}: frames[{k}] is malformed ({type(e).__name__}: {e})") from None
        if kp.shape != (NUM_JOINTS, 3):
            raise PoseFileError(f"{path}: frames[{k}] (frame {number}) has keypoints of shape "
                                f"{kp.shape}, expected (17, 3)")
        numbers.append(number)
        keypoints.append(kp)
    if len(set(numbers)) != len(numbers):
        raise PoseFileError(f"{path}: a frame number appears twice")
    if not numbers:
        return np.zeros(0, np.int64), np.zeros((0, NUM_JOINTS, 3), np.float32)
    order = np.argsort(numbers)
    return np.asarray(numbers, np.int64)[order], np.stack(keypoints)[order]


def read_grew_pose_txt(path: str | os.PathLike) -> tuple[tuple[int, int], np.ndarray]:
    """Read a GREW ``*_2d_pose.txt``; return ``((height, width), keypoints (17, 3))``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise PoseFileError(f"{path}: not a text file") from None
    try:
        values = [float(v) for v in text.replace("\n", ",").split(",") if v.strip()]
    except ValueError as e:
        raise PoseFileError(f"{path}: non-numeric value ({e})") from None
    if len(values) != GREW_POSE_VALUES:
        raise PoseFileError(f"{path}: {len(values)} values, expected {GREW_POSE_VALUES} "
                            "(h, w and x, y, confidence of 17 joints)")
    return (int(values[0]), int(values[1])), np.asarray(values[2:], np.float32).reshape(NUM_JOINTS, 3)


def format_grew_pose_txt(keypoints: np.ndarray, image_hw: tuple[int, int]) -> str:
    values = [int(image_hw[0]), int(image_hw[1])] + [round(float(v), 3) for v in keypoints.reshape(-1)]
    return ",".join(map(str, values)) + "\n"
