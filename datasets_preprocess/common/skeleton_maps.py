"""Skeleton maps (``0_heatmap.pkl``) from COCO-17 poses, vectorised over frames and joints.

The rule of the pretreated contract (design.md §3; the same parameters as SkeletonGait):

1. fill missing joints over time (linear interpolation of each joint's track; a joint never
   seen keeps the frame's centroid and confidence 0, so it draws nothing);
2. centre each frame on the hip midpoint and scale it so the body's height (y extent of the
   joints) is 85 px on a 128x128 canvas, hip midpoint at (64, 64);
3. draw Gaussians with sigma 8: channel 1 a joint map (peak = joint confidence), channel 0 a
   limb map over the 19 COCO bones (distance to the segment, peak = the smaller confidence of
   its two joints); each channel is the maximum over its joints/limbs;
4. crop the canvas rows to the maps' non-zero extent, take a square of that height centred on
   column 64 (zero-padded outside the canvas) and resize it to 64x64.

Instead of drawing 128x128 canvases and resizing them, the maps are evaluated directly at the
64x64 output pixels' centres in canvas coordinates (the row extent is found analytically).
For Gaussians this wide (sigma 8 canvas px, 2 px boxes) that equals area resampling within a
grey level or two, and it is 4x less work.
"""
from __future__ import annotations

import numpy as np

from datasets_preprocess.common.pretreated_io import NUM_JOINTS

# The 19 COCO-17 skeleton links (legs, hips, torso, arms, face) used for the limb map.
COCO_BONES = np.array([(15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12),
                       (5, 6), (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2),
                       (1, 3), (2, 4), (3, 5), (4, 6)], np.int64)
BONE_START, BONE_END = COCO_BONES[:, 0], COCO_BONES[:, 1]
LEFT_HIP, RIGHT_HIP = 11, 12

SIGMA = 8.0
CANVAS = 128
BODY_HEIGHT = 85.0           # 128 // 1.5
OUT_SIZE = 64
MIN_CONFIDENCE = 1e-3        # joints below this draw nothing


def fill_missing_joints(pose: np.ndarray, min_conf: float = MIN_CONFIDENCE) -> np.ndarray:
    """Fill the x, y of joints below ``min_conf`` (or non-finite) by linear interpolation of
    the joint's own track over the frames; confidences are left unchanged.

    A joint that is never valid gets the centroid of the frame's valid joints; a frame with no
    valid joint at all keeps its coordinates (such frames are filtered out before).
    """
    pose = np.asarray(pose, np.float32)
    coords = pose[..., :2].copy()
    valid = (pose[..., 2] >= min_conf) & np.isfinite(coords).all(-1)
    n_frames = pose.shape[0]
    frames = np.arange(n_frames)
    for j in np.flatnonzero(valid.any(0) & ~valid.all(0)):  # per joint, not per frame
        ok = valid[:, j]
        for axis in range(2):
            coords[:, j, axis] = np.interp(frames, frames[ok], coords[ok, j, axis])
    never = ~valid.any(0)
    if never.any():
        weights = valid.astype(np.float32)[..., None]
        counts = weights.sum(1)
        centroid = np.where(counts > 0, (np.nan_to_num(coords) * weights).sum(1)
                            / np.maximum(counts, 1), 0.0)
        coords[:, never] = centroid[:, None, :]
    coords = np.nan_to_num(coords)
    return np.concatenate([coords, pose[..., 2:3]], axis=-1)


def normalise_to_canvas(pose: np.ndarray) -> np.ndarray:
    """Joint x, y on the 128 canvas: hip midpoint at (64, 64), body height 85 px."""
    xy = pose[..., :2]
    hips = xy[:, [LEFT_HIP, RIGHT_HIP]].mean(1, keepdims=True)
    extent = xy[..., 1].max(1) - xy[..., 1].min(1)
    scale = BODY_HEIGHT / np.maximum(extent, 1e-3)
    return (xy - hips) * scale[:, None, None] + CANVAS / 2


def _reach(weight: np.ndarray) -> np.ndarray:
    """Distance at which w * exp(-d^2 / 2 sigma^2) falls below one grey level (1/255)."""
    return np.sqrt(2 * SIGMA ** 2 * np.log(np.maximum(weight * 255.0, 1.0)))


def skeleton_maps(pose: np.ndarray, min_conf: float = MIN_CONFIDENCE,
                  chunk: int = 4) -> np.ndarray:
    """Skeleton maps of a sequence: uint8 ``(T, 2, 64, 64)``, channel 0 limbs, 1 joints.

    ``pose`` is ``(T, 17, 3)`` COCO-17 ``x, y, confidence`` in image pixels. Frames are drawn
    ``chunk`` at a time so the (frames x bones x 64 x 64) temporaries stay in the CPU cache.
    """
    pose = np.asarray(pose, np.float32)
    if pose.ndim != 3 or pose.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"expected poses of shape (T, 17, 3), got {pose.shape}")
    if pose.shape[0] == 0:
        return np.zeros((0, 2, OUT_SIZE, OUT_SIZE), np.uint8)
    filled = fill_missing_joints(pose, min_conf)
    conf = np.where(filled[..., 2] >= min_conf, filled[..., 2], 0.0).astype(np.float32)
    xy = normalise_to_canvas(filled).astype(np.float32)
    # Scratch buffers reused by every chunk: fresh multi-MB temporaries would be mapped and
    # page-faulted by the allocator on every call, which costs more than the arithmetic.
    n = min(chunk, len(xy))
    scratch = [np.empty((n, len(COCO_BONES), OUT_SIZE, OUT_SIZE), np.float32) for _ in range(3)]
    return np.concatenate([_draw_maps(xy[i:i + chunk], conf[i:i + chunk], scratch)
                           for i in range(0, len(xy), chunk)])


def _draw_maps(xy: np.ndarray, conf: np.ndarray, scratch: list[np.ndarray]) -> np.ndarray:
    """Maps for canvas joint positions ``xy`` (T, 17, 2) and confidences (T, 17)."""
    a, b = xy[:, BONE_START], xy[:, BONE_END]                                 # (T, 19, 2)
    bone_w = np.minimum(conf[:, BONE_START], conf[:, BONE_END])              # (T, 19)

    # Row extent of the non-zero maps (joints and bones), clipped to the canvas.
    joint_reach, bone_reach = _reach(conf), _reach(bone_w)
    joint_drawn, bone_drawn = conf > 0, bone_w > 0
    big = np.float32(1e9)
    top = np.minimum(np.where(joint_drawn, xy[..., 1] - joint_reach, big).min(1),
                     np.where(bone_drawn, np.minimum(a[..., 1], b[..., 1]) - bone_reach, big).min(1))
    bottom = np.maximum(np.where(joint_drawn, xy[..., 1] + joint_reach, -big).max(1),
                        np.where(bone_drawn, np.maximum(a[..., 1], b[..., 1]) + bone_reach, -big).max(1))
    empty = top > bottom
    row0 = np.clip(np.ceil(top), 0, CANVAS - 1)
    row1 = np.clip(np.floor(bottom), 0, CANVAS - 1)
    height = np.where(empty, 1.0, row1 - row0 + 1).astype(np.float32)       # (T,)
    col0 = CANVAS / 2 - height / 2

    # Canvas coordinates of the output pixel centres (area-resampling geometry).
    steps = (np.arange(OUT_SIZE, dtype=np.float32) + 0.5) / OUT_SIZE
    ys = row0[:, None].astype(np.float32) + steps[None] * height[:, None] - 0.5   # (T, 64)
    xs = col0[:, None].astype(np.float32) + steps[None] * height[:, None] - 0.5   # (T, 64)
    inv = np.float32(-0.5 / SIGMA ** 2)

    n_frames = len(xy)
    proj, work, extra = (buf[:n_frames] for buf in scratch)                   # (T, 19, 64, 64)
    joints_work = work[:, :NUM_JOINTS]                                        # (T, 17, 64, 64)

    # Joint map: separable Gaussians, max over joints.
    gx = np.exp(inv * (xs[:, None, :] - xy[..., 0:1]) ** 2)                  # (T, 17, 64)
    gy = np.exp(inv * (ys[:, None, :] - xy[..., 1:2]) ** 2) * conf[..., None]
    np.multiply(gy[..., :, None], gx[..., None, :], out=joints_work)
    joints = joints_work.max(1)                                               # (T, 64, 64)

    # Limb map: squared distance to each bone segment, |p - a - t d|^2 with t the clipped
    # projection; the max over bones of w exp(-d^2 / 2 sigma^2) is taken before the exp.
    d = b - a                                                                 # (T, 19, 2)
    length2 = np.maximum((d ** 2).sum(-1), 1e-6)[..., None, None]            # (T, 19, 1, 1)
    px = (xs[:, None, :] - a[..., 0:1])[..., None, :]                         # (T, 19, 1, 64)
    py = (ys[:, None, :] - a[..., 1:2])[..., :, None]                         # (T, 19, 64, 1)
    np.add(px * d[..., 0, None, None], py * d[..., 1, None, None], out=proj)
    t = np.multiply(proj, 1.0 / length2, out=work)
    np.minimum(np.maximum(t, 0.0, out=t), 1.0, out=t)
    dist2 = proj                                                              # reuse in place:
    np.multiply(proj, -2.0, out=dist2)                                        #   -2 proj
    dist2 += np.multiply(t, length2, out=extra)                               #   + t L^2
    dist2 *= t                                                                #   * t
    dist2 += px ** 2                                                          #   + |p - a|^2
    dist2 += py ** 2
    # max_b w_b exp(inv d_b^2) = exp(inv min_b (d_b^2 + log(w_b) / inv)), as inv < 0
    dist2 += (np.log(np.maximum(bone_w, 1e-12)) / inv)[..., None, None]
    limbs = np.exp(inv * dist2.min(1))                                        # (T, 64, 64)

    maps = np.stack([limbs, joints], axis=1)
    maps[empty] = 0.0
    # Pixels whose sample point lies outside the canvas are zero padding.
    outside_x = (xs < -0.5) | (xs > CANVAS - 0.5)
    maps *= ~outside_x[:, None, None, :]
    return (np.clip(maps, 0.0, 1.0) * 255.0).astype(np.uint8)

