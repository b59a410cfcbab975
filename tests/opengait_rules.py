"""Slow, literal write-ups of OpenGait's pretreatment rules, for the agreement tests.

Written here from the rules as OpenGait's pretreatment applies them (not from its code, and
without calling the module under test): one pixel, one joint, one limb at a time.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

SIGMA = 8.0
CANVAS = 128
# OpenGait's 17 limbs for COCO-17 (nose-eyes-ears, nose-shoulders, arms, torso sides, legs, hips).
OPENGAIT_LIMBS = ((0, 1), (0, 2), (1, 3), (2, 4), (0, 5), (5, 7), (7, 9), (0, 6), (6, 8),
                  (8, 10), (5, 11), (11, 13), (13, 15), (6, 12), (12, 14), (14, 16), (11, 12))


def align_like_opengait(gray: np.ndarray) -> np.ndarray | None:
    """One grey silhouette -> 64x64 uint8, or None when OpenGait skips the frame."""
    if int(gray.sum()) <= 10000:
        return None
    nonzero_rows = [r for r in range(gray.shape[0]) if gray[r].sum() != 0]
    crop = gray[nonzero_rows[0]:nonzero_rows[-1] + 1]
    width = int(64 * (crop.shape[1] / crop.shape[0]))
    resized = cv2.resize(crop, (width, 64), interpolation=cv2.INTER_CUBIC)
    total, running, centre = int(resized.sum()), 0, None
    for column in range(width):
        running += int(resized[:, column].sum())
        if running > total / 2:
            centre = column
            break
    if not centre:                      # None, or column 0: "no centre"
        return None
    padded = np.zeros((64, width + 64), np.float64)
    padded[:, 32:32 + width] = resized
    return padded[:, centre:centre + 64].astype(np.uint8)


def _gaussian_box(canvas: np.ndarray, cx: float, cy: float, value: float) -> None:
    x0, x1 = max(int(cx - 3 * SIGMA), 0), min(int(cx + 3 * SIGMA) + 1, CANVAS)
    y0, y1 = max(int(cy - 3 * SIGMA), 0), min(int(cy + 3 * SIGMA) + 1, CANVAS)
    for y in range(y0, y1):
        for x in range(x0, x1):
            v = value * math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * SIGMA ** 2))
            canvas[y, x] = max(canvas[y, x], v)


def _limb_box(canvas: np.ndarray, a, b, value: float) -> None:
    d2_ab = (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2
    if d2_ab < 1:
        return _gaussian_box(canvas, a[0], a[1], a[2])
    x0 = max(int(min(a[0], b[0]) - 3 * SIGMA), 0)
    x1 = min(int(max(a[0], b[0]) + 3 * SIGMA) + 1, CANVAS)
    y0 = max(int(min(a[1], b[1]) - 3 * SIGMA), 0)
    y1 = min(int(max(a[1], b[1]) + 3 * SIGMA) + 1, CANVAS)
    for y in range(y0, y1):
        for x in range(x0, x1):
            da = (x - a[0]) ** 2 + (y - a[1]) ** 2
            db = (x - b[0]) ** 2 + (y - b[1]) ** 2
            t = (da - db + d2_ab) / 2 / d2_ab
            if t <= 0:
                d2 = da
            elif t >= 1:
                d2 = db
            else:
                px, py = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
                d2 = (x - px) ** 2 + (y - py) ** 2
            canvas[y, x] = max(canvas[y, x], value * math.exp(-d2 / (2 * SIGMA ** 2)))


def _grey_levels(canvas: np.ndarray) -> np.ndarray:
    """The heatmap-to-image step: matplotlib's 256-entry grey colour map, times 255, to uint8."""
    import matplotlib.cm as cm
    return (cm.gray(canvas)[..., 0] * 255).astype(np.uint8).astype(np.float64)


def _crop_and_resize(grey: np.ndarray) -> np.ndarray:
    rows = [r for r in range(CANVAS) if grey[r].sum() != 0]
    top, bottom = (rows[0], rows[-1]) if rows else (0, 0)
    h = bottom - top + 1
    crop = (grey / 255.0)[top:bottom + 1, CANVAS // 2 - h // 2:CANVAS // 2 + h // 2 + 1]
    return (cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA) * 255).astype(np.uint8)


def skeleton_map_like_opengait(pose: np.ndarray) -> np.ndarray:
    """One frame of complete COCO-17 keypoints (x, y, confidence) -> (2, 64, 64) uint8."""
    xy = pose[:, :2].astype(np.float64)
    hip = (xy[11] + xy[12]) / 2
    xy = xy - hip
    xy = xy * ((CANVAS // 1.5) / (xy[:, 1].max() - xy[:, 1].min())) + CANVAS // 2
    joints = [(xy[j, 0], xy[j, 1], float(pose[j, 2])) for j in range(17)]
    limb_canvas = np.zeros((CANVAS, CANVAS))
    for a, b in OPENGAIT_LIMBS:
        value = min(joints[a][2], joints[b][2])
        if value >= 1e-3:
            _limb_box(limb_canvas, joints[a], joints[b], value)
    joint_canvas = np.zeros((CANVAS, CANVAS))
    for x, y, c in joints:
        if c >= 1e-3:
            _gaussian_box(joint_canvas, x, y, c)
    return np.stack([_crop_and_resize(_grey_levels(limb_canvas)),
                     _crop_and_resize(_grey_levels(joint_canvas))])
