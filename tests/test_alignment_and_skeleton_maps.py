"""Silhouette alignment and skeleton maps against hand-built cases and slow references."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from datasets_preprocess.common import skeleton_maps as sm
from datasets_preprocess.common.silhouette_alignment import align_silhouette, align_silhouettes


def reference_align(mask: np.ndarray) -> np.ndarray | None:
    """The contract written out plainly: crop rows, height 64 keeping aspect, centre on the
    column where the cumulative mass first passes half, pad 32 zero columns each side, cut 64."""
    rows = [r for r in range(mask.shape[0]) if mask[r].any()]
    if not rows:
        return None
    crop = mask[rows[0]:rows[-1] + 1].astype(np.uint8)
    width = max(1, int(round(crop.shape[1] * 64 / crop.shape[0])))
    resized = cv2.resize(crop, (width, 64), interpolation=cv2.INTER_CUBIC)
    total, running, centre = resized.sum(), 0, None
    for c in range(width):
        running += int(resized[:, c].sum())
        if running > total / 2:
            centre = c
            break
    padded = np.concatenate([np.zeros((64, 32), np.uint8), resized, np.zeros((64, 32), np.uint8)], 1)
    return padded[:, centre:centre + 64]


def test_centred_rectangle():
    mask = np.zeros((240, 320), np.uint8)
    mask[40:200, 140:180] = 255                      # 160 x 40 px, centred at column 159.5
    out = align_silhouette(mask)
    assert out.shape == (64, 64) and out.dtype == np.uint8
    cols = out.sum(0) / 255.0
    assert (out[:, 25:39] >= 250).all()              # 40 px wide -> 16 columns at height 64
    assert (out[:, :22] == 0).all() and (out[:, 42:] == 0).all()
    centroid = (cols * np.arange(64)).sum() / cols.sum()
    assert abs(centroid - 31.5) < 1.0
    assert (out.max(1) > 0).all()                    # the rectangle fills the height


def test_off_centre_body_is_centred_with_padding():
    mask = np.zeros((240, 320), np.uint8)
    mask[20:220, 0:25] = 255                          # touching the left border
    mask[20:60, 25:40] = 255                          # an arm on one side only
    out = align_silhouette(mask)
    np.testing.assert_array_equal(out, reference_align(mask))
    cols = out.sum(0).astype(float)
    median_col = np.searchsorted(np.cumsum(cols), cols.sum() / 2, side="right")
    assert abs(median_col - 32) <= 1                 # mass median at the centre
    assert (out[:, :10] == 0).all()                  # zero padding left of the body


@pytest.mark.parametrize("seed", range(5))
def test_alignment_matches_the_reference_on_random_blobs(seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros((240, 320), np.uint8)
    for _ in range(4):
        cv2.ellipse(mask, (int(rng.integers(40, 280)), int(rng.integers(40, 200))),
                    (int(rng.integers(5, 40)), int(rng.integers(10, 80))), float(rng.uniform(0, 180)),
                    0, 360, 255, -1)
    np.testing.assert_array_equal(align_silhouette(mask), reference_align(mask))


def test_empty_frames_are_left_out():
    masks = [np.zeros((30, 20), np.uint8), np.full((30, 20), 255, np.uint8)]
    aligned, kept = align_silhouettes(masks)
    assert align_silhouette(masks[0]) is None
    assert aligned.shape == (1, 64, 64) and kept.tolist() == [1]


def standing_pose(height: float = 170.0, x0: float = 100.0, y0: float = 20.0) -> np.ndarray:
    """A front-facing COCO-17 skeleton, head at the top, feet at y0 + height."""
    rel = {0: (0, 0.06), 1: (-0.02, 0.04), 2: (0.02, 0.04), 3: (-0.05, 0.05), 4: (0.05, 0.05),
           5: (-0.12, 0.18), 6: (0.12, 0.18), 7: (-0.15, 0.35), 8: (0.15, 0.35),
           9: (-0.16, 0.5), 10: (0.16, 0.5), 11: (-0.08, 0.53), 12: (0.08, 0.53),
           13: (-0.09, 0.76), 14: (0.09, 0.76), 15: (-0.09, 1.0), 16: (0.09, 1.0)}
    pose = np.zeros((17, 3), np.float32)
    for j, (dx, dy) in rel.items():
        pose[j] = (x0 + dx * height, y0 + dy * height, 1.0)
    pose[0, 1] = y0  # nose at the top: body height = y extent = feet - nose
    return pose


def reference_maps(pose: np.ndarray) -> np.ndarray:
    """The SkeletonGait recipe drawn the slow way: full 128x128 canvases, crop, INTER_AREA."""
    filled = sm.fill_missing_joints(pose[None])[0]
    conf = np.where(filled[:, 2] >= sm.MIN_CONFIDENCE, filled[:, 2], 0)
    xy = sm.normalise_to_canvas(filled[None])[0]
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float64)
    joints, limbs = np.zeros((128, 128)), np.zeros((128, 128))
    for j in range(17):
        if conf[j] > 0:
            joints = np.maximum(joints, conf[j] * np.exp(-((xx - xy[j, 0]) ** 2 + (yy - xy[j, 1]) ** 2) / 128))
    for a, b in sm.COCO_BONES:
        w = min(conf[a], conf[b])
        if w > 0:
            d = xy[b] - xy[a]
            t = np.clip(((xx - xy[a, 0]) * d[0] + (yy - xy[a, 1]) * d[1]) / max(d @ d, 1e-6), 0, 1)
            dist2 = (xx - xy[a, 0] - t * d[0]) ** 2 + (yy - xy[a, 1] - t * d[1]) ** 2
            limbs = np.maximum(limbs, w * np.exp(-dist2 / 128))
    maps = (np.stack([limbs, joints]) * 255).astype(np.uint8)
    rows = np.flatnonzero(maps.any(0).any(1))
    h = rows[-1] - rows[0] + 1
    padded = np.zeros((2, h, 128 + 2 * h), np.uint8)
    padded[:, :, h:h + 128] = maps[:, rows[0]:rows[-1] + 1]
    square = padded[:, :, h + 64 - h // 2: h + 64 - h // 2 + h]
    return np.stack([cv2.resize(c, (64, 64), interpolation=cv2.INTER_AREA) for c in square])


def test_skeleton_maps_match_the_slow_reference():
    rng = np.random.default_rng(0)
    poses = np.stack([standing_pose(), standing_pose(150, 60, 50)])
    poses[:, :, :2] += rng.normal(0, 3, (2, 17, 2)).astype(np.float32)  # not perfectly symmetric
    poses[1, 7:11, 2] = 0.5                                              # weak arms
    maps = sm.skeleton_maps(poses)
    assert maps.shape == (2, 2, 64, 64) and maps.dtype == np.uint8
    for f in range(2):
        ref = reference_maps(poses[f])
        diff = np.abs(maps[f].astype(int) - ref.astype(int))
        assert diff.mean() < 1.0 and diff.max() <= 16, (diff.mean(), diff.max())


def test_channels_joints_peaks_and_centring():
    pose = standing_pose()
    maps = sm.skeleton_maps(pose[None])[0]
    limbs, joints = maps[0].astype(int), maps[1].astype(int)
    assert joints.max() >= 250 and limbs.max() >= 250        # peak = confidence 1
    # The hip midpoint is the horizontal centre: the symmetric pose's mass is centred.
    cols = joints.sum(0)
    assert abs((cols * np.arange(64)).sum() / cols.sum() - 31.5) < 0.6
    # Mid-thigh lies on a bone (limb map bright) between two joints (joint map dimmer).
    canvas = sm.normalise_to_canvas(sm.fill_missing_joints(pose[None]))[0]
    rows = np.flatnonzero(maps.any(0).any(1))
    assert rows[0] == 0 and rows[-1] == 63                   # cropped to the non-zero rows
    hip_y, knee_y = canvas[11, 1], canvas[13, 1]
    assert knee_y - hip_y > 15                                # 0.23 of the 85-px body height


def test_missing_joints_are_filled_and_not_drawn():
    poses = np.stack([standing_pose() for _ in range(3)])
    poses[0, 9, :2] = (20.0, 60.0)                            # left arm held out sideways
    poses[2, 9, :2] = (30.0, 70.0)
    poses[1, 9] = (0.0, 0.0, 0.0)                             # left wrist missing in frame 1
    poses[:, 3, 2] = 0.0                                      # left ear never seen
    filled = sm.fill_missing_joints(poses)
    np.testing.assert_allclose(filled[1, 9, :2], (25.0, 65.0))           # interpolated
    assert filled[1, 9, 2] == 0.0                                         # confidence kept
    centroid = poses[0, [j for j in range(17) if j != 3], :2].mean(0)
    np.testing.assert_allclose(filled[0, 3, :2], centroid, rtol=1e-5)     # never seen
    maps = sm.skeleton_maps(poses)
    without_ear = poses.copy()
    without_ear[:, 3, :2] = filled[:, 3, :2]
    np.testing.assert_array_equal(maps, sm.skeleton_maps(without_ear))   # ear draws nothing
    # The missing wrist draws no joint blob in frame 1, and its forearm no limb.
    assert maps[1, 1].sum() < 0.95 * maps[0, 1].sum()
    assert maps[1, 0].sum() < 0.95 * maps[0, 0].sum()


def test_bad_pose_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(T, 17, 3\)"):
        sm.skeleton_maps(np.zeros((4, 18, 3)))
    assert sm.skeleton_maps(np.zeros((0, 17, 3))).shape == (0, 2, 64, 64)
