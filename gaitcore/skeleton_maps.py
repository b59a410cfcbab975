"""Skeleton maps (``0_heatmap.pkl``) from COCO-17 poses, vectorised over frames and joints.

The rule is SkeletonGait's as OpenGait's ``pretreatment_heatmap`` chain applies it:

1. fill missing joints over time (here: linear interpolation of each joint's own track; a
   joint never seen keeps the frame's centroid and confidence 0, so it draws nothing --
   OpenGait imputes zero coordinates with a KNN imputer instead, see docs/preprocessing.md);
2. centre each frame on the hip midpoint and scale it so the joints' y extent is 85 px
   (``128 // 1.5``) on a 128x128 canvas, hip midpoint at (64, 64);
3. draw Gaussians with sigma 8, each inside its box of +-3 sigma (``int(mu - 24)`` to
   ``int(mu + 24)``): channel 1 the joints (peak = confidence), channel 0 the 17 limbs of
   OpenGait's list (distance to the segment, peak = the smaller confidence of its joints);
   each channel is the maximum over its joints / limbs;
4. turn each channel into grey levels (``floor(256 v)``, as a 256-entry grey colour map does),
   crop **each channel separately** to its non-zero rows, take the columns
   ``64 - h // 2 .. 64 + h // 2`` of that height h and resize to 64x64 with area averaging.

Instead of drawing 128x128 canvases and resizing them, the maps are evaluated directly at the
64x64 output pixels' centres in canvas coordinates; the row extent, the boxes and the grey
quantisation are computed analytically. On the same poses this agrees with OpenGait's chain
within 0.3 grey levels mean absolute difference per channel (tests) at about 4x less work.
"""
from __future__ import annotations

import numpy as np

from gaitcore.pretreated_io import NUM_JOINTS

# OpenGait's 17 COCO-17 limbs: nose-eyes, eyes-ears, nose-shoulders, arms, torso sides, legs,
# hip-hip (no eye-eye, ear-shoulder or shoulder-shoulder link).
COCO_BONES = np.array([(0, 1), (0, 2), (1, 3), (2, 4), (0, 5), (5, 7), (7, 9), (0, 6), (6, 8),
                       (8, 10), (5, 11), (11, 13), (13, 15), (6, 12), (12, 14), (14, 16),
                       (11, 12)], np.int64)
BONE_START, BONE_END = COCO_BONES[:, 0], COCO_BONES[:, 1]
LEFT_HIP, RIGHT_HIP = 11, 12

SIGMA = 8.0
BOX = 3 * SIGMA              # each Gaussian is drawn inside +-3 sigma of its joint / limb
CANVAS = 128
BODY_HEIGHT = CANVAS // 1.5  # 85.0
OUT_SIZE = 64
MIN_CONFIDENCE = 1e-3        # joints below this draw nothing
GREY_LEVELS = 256            # the grey colour map's entries: level = floor(256 v)
JOINT_SUBSAMPLES = (-0.25, 0.25)  # diagonal sample offsets of the joint map (see _joint_map)


def fill_missing_joints(pose: np.ndarray, min_conf: float = MIN_CONFIDENCE) -> np.ndarray:
    """Fill the x, y of joints below ``min_conf`` (or non-finite) by linear interpolation of
    the joint's own track over the frames; confidences are left unchanged.

    A joint that is never valid gets the centroid of the frame's valid joints; a frame with no
    valid joint at all keeps its coordinates (zeros when they are not finite).
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
    coords = np.nan_to_num(coords, nan=0.0, posinf=0.0, neginf=0.0)
    return np.concatenate([coords, pose[..., 2:3]], axis=-1)


def normalise_to_canvas(pose: np.ndarray) -> np.ndarray:
    """Joint x, y on the 128 canvas: hip midpoint at (64, 64), y extent 85 px."""
    xy = pose[..., :2]
    hips = xy[:, [LEFT_HIP, RIGHT_HIP]].mean(1, keepdims=True)
    extent = xy[..., 1].max(1) - xy[..., 1].min(1)
    scale = BODY_HEIGHT / np.maximum(extent, 1e-3)
    return (xy - hips) * scale[:, None, None] + CANVAS // 2


def skeleton_maps(pose: np.ndarray, min_conf: float = MIN_CONFIDENCE,
                  chunk: int = 4) -> np.ndarray:
    """Skeleton maps of a sequence: uint8 ``(T, 2, 64, 64)``, channel 0 limbs, 1 joints.

    ``pose`` is ``(T, 17, 3)`` COCO-17 ``x, y, confidence`` in image pixels. Frames are drawn
    ``chunk`` at a time so the (frames x limbs x 64 x 64) temporaries stay in the CPU cache.
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
    out = np.empty((len(xy), 2, OUT_SIZE, OUT_SIZE), np.uint8)
    for i in range(0, len(xy), chunk):
        out[i:i + chunk, 0] = _limb_map(xy[i:i + chunk], conf[i:i + chunk], scratch)
        out[i:i + chunk, 1] = _joint_map(xy[i:i + chunk], conf[i:i + chunk], scratch[0])
    return out


# --- geometry of one channel ---------------------------------------------------------------

def _box(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canvas pixel range [first, last] of a Gaussian box over [lo, hi] (clipped)."""
    first = np.maximum(np.trunc(lo - BOX), 0)
    last = np.minimum(np.trunc(hi + BOX), CANVAS - 1)
    return first, last


def _reach(weight: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """How far (in y) from its peak a Gaussian of height ``weight`` stays >= one grey level,
    given the closest pixel column lies ``offset`` px from the peak in x."""
    r2 = 2 * SIGMA ** 2 * np.log(np.maximum(weight * GREY_LEVELS, 1.0)) - offset ** 2
    return np.sqrt(np.maximum(r2, 0.0))


def _sample_grid(top: np.ndarray, bottom: np.ndarray, offset: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Canvas coordinates of the 64 output rows and columns of each frame: the crop is rows
    ``top..bottom`` (height h) and columns ``64 - h//2 .. 64 + h//2`` (clipped to the canvas),
    resized to 64x64 by area averaging, whose pixel i averages the source span around
    ``first + (i + 0.5) * size / 64 - 0.5``; ``offset`` moves the sample by that share of
    an output pixel."""
    empty = top > bottom
    top = np.where(empty, 0, top)
    height = np.where(empty, 1, bottom - top + 1)
    col0 = CANVAS // 2 - height // 2
    col1 = np.minimum(CANVAS // 2 + height // 2 + 1, CANVAS)
    steps = (np.arange(OUT_SIZE, dtype=np.float32) + 0.5 + offset) / OUT_SIZE
    ys = top[:, None] + steps[None] * height[:, None] - 0.5
    xs = col0[:, None] + steps[None] * (col1 - col0)[:, None] - 0.5
    return ys.astype(np.float32), xs.astype(np.float32)


def _to_grey(values: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Expected result of grey-level quantisation (floor(256 v), which loses half a level on
    average), area averaging and the final truncation: floor(256 v - 0.5), in uint8."""
    values *= GREY_LEVELS
    values -= 0.5
    np.clip(values, 0, 255, out=values)
    values[empty] = 0
    return values.astype(np.uint8)


def _in_box(coords: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """(T, K, 64) 0/1 weights: does the sample coordinate fall on a pixel of the box?"""
    c = coords[:, None, :]
    return ((c >= first[..., None] - 0.5) & (c <= last[..., None] + 0.5)).astype(np.float32)


def _joint_map(xy: np.ndarray, conf: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Channel 1: separable Gaussians in their boxes, max over joints; (T, 64, 64) uint8."""
    drawn = conf > 0                                                          # (T, 17)
    x0, x1 = _box(xy[..., 0], xy[..., 0])
    y0, y1 = _box(xy[..., 1], xy[..., 1])
    drawn &= (x0 <= x1) & (y0 <= y1)
    nearest_col = np.clip(np.round(xy[..., 0]), x0, x1)
    reach = _reach(conf, np.abs(nearest_col - xy[..., 0]))
    top = np.where(drawn, np.maximum(np.ceil(xy[..., 1] - reach), y0), CANVAS).min(1)
    bottom = np.where(drawn, np.minimum(np.floor(xy[..., 1] + reach), y1), -1).max(1)
    inv = np.float32(-0.5 / SIGMA ** 2)
    weight = (conf * drawn)[..., None]
    joints = work[:len(xy), :NUM_JOINTS]                                     # (T, 17, 64, 64)
    total = np.zeros((len(xy), OUT_SIZE, OUT_SIZE), np.float32)
    # The max over joints has creases where two Gaussians meet; area averaging smooths them,
    # a single centre sample does not: two diagonal samples per pixel halve the difference.
    for offset in JOINT_SUBSAMPLES:
        ys, xs = _sample_grid(top, bottom, offset)
        gx = np.exp(inv * (xs[:, None, :] - xy[..., 0:1]) ** 2) * _in_box(xs, x0, x1)
        gy = np.exp(inv * (ys[:, None, :] - xy[..., 1:2]) ** 2) * _in_box(ys, y0, y1) * weight
        np.multiply(gy[..., :, None], gx[..., None, :], out=joints)
        total += joints.max(1)
    total /= len(JOINT_SUBSAMPLES)
    return _to_grey(total, top > bottom)


def _limb_map(xy: np.ndarray, conf: np.ndarray, scratch: list[np.ndarray]) -> np.ndarray:
    """Channel 0: distance to each limb segment in its box, max over limbs; (T, 64, 64) uint8."""
    a, b = xy[:, BONE_START], xy[:, BONE_END]                                 # (T, L, 2)
    w = np.minimum(conf[:, BONE_START], conf[:, BONE_END])                   # (T, L)
    # A limb shorter than one pixel is drawn as its first joint's Gaussian.
    point = ((b - a) ** 2).sum(-1) < 1
    b = np.where(point[..., None], a, b)
    w = np.where(point, conf[:, BONE_START], w)
    x0, x1 = _box(np.minimum(a[..., 0], b[..., 0]), np.maximum(a[..., 0], b[..., 0]))
    y0, y1 = _box(np.minimum(a[..., 1], b[..., 1]), np.maximum(a[..., 1], b[..., 1]))
    drawn = (w > 0) & (x0 <= x1) & (y0 <= y1)
    # Row extent: a row beyond the segment's y range is at least that far from it.
    low_end = np.where((a[..., 1] <= b[..., 1])[..., None], a, b)            # smaller y
    high_end = np.where((a[..., 1] > b[..., 1])[..., None], a, b)
    reach_top = _reach(w, np.abs(np.clip(np.round(low_end[..., 0]), x0, x1) - low_end[..., 0]))
    reach_bottom = _reach(w, np.abs(np.clip(np.round(high_end[..., 0]), x0, x1) - high_end[..., 0]))
    top = np.where(drawn, np.maximum(np.ceil(low_end[..., 1] - reach_top), y0), CANVAS).min(1)
    bottom = np.where(drawn, np.minimum(np.floor(high_end[..., 1] + reach_bottom), y1), -1).max(1)
    ys, xs = _sample_grid(top, bottom)
    inv = np.float32(-0.5 / SIGMA ** 2)

    n = len(xy)
    proj, work, extra = (buf[:n] for buf in scratch)                          # (T, L, 64, 64)
    d = b - a                                                                 # (T, L, 2)
    length2 = np.maximum((d ** 2).sum(-1), 1e-6)[..., None, None]            # (T, L, 1, 1)
    px = (xs[:, None, :] - a[..., 0:1])[..., None, :]                         # (T, L, 1, 64)
    py = (ys[:, None, :] - a[..., 1:2])[..., :, None]                         # (T, L, 64, 1)
    np.add(px * d[..., 0, None, None], py * d[..., 1, None, None], out=proj)
    t = np.multiply(proj, 1.0 / length2, out=work)
    np.minimum(np.maximum(t, 0.0, out=t), 1.0, out=t)
    dist2 = proj                                                              # in place:
    np.multiply(proj, -2.0, out=dist2)                                        #   -2 proj
    dist2 += np.multiply(t, length2, out=extra)                               #   + t L^2
    dist2 *= t                                                                #   * t
    dist2 += px ** 2                                                          #   + |p - a|^2
    dist2 += py ** 2
    # max_l w_l exp(inv d_l^2) = exp(inv min_l (d_l^2 + log(w_l) / inv)), as inv < 0; samples
    # outside a limb's box (or of a limb not drawn) get an infinite distance to it.
    penalty = np.where(drawn, np.log(np.maximum(w, 1e-12)) / inv, np.inf).astype(np.float32)
    outside_y = np.where(_in_box(ys, y0, y1) > 0, 0.0, np.inf).astype(np.float32)
    outside_x = np.where(_in_box(xs, x0, x1) > 0, 0.0, np.inf).astype(np.float32)
    dist2 += (penalty[..., None] + outside_y)[..., :, None]
    dist2 += outside_x[..., None, :]
    return _to_grey(np.exp(inv * np.maximum(dist2.min(1), 0.0)), top > bottom)
