"""Silhouette alignment and skeleton maps against hand-built cases and slow references."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from gaitcore import skeleton_maps as sm
from gaitcore.silhouette_alignment import align_silhouette, align_silhouettes
from opengait_rules import align_like_opengait, skeleton_map_like_opengait


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
    np.testing.assert_array_equal(out, align_like_opengait(mask))
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
    np.testing.assert_array_equal(align_silhouette(mask), align_like_opengait(mask))


def test_empty_frames_are_left_out():
    masks = [np.zeros((30, 20), np.uint8), np.full((30, 20), 255, np.uint8)]
    aligned, kept = align_silhouettes(masks)
    assert align_silhouette(masks[0]) is None
    assert aligned.shape == (1, 64, 64) and kept.tolist() == [1]


def test_width_is_truncated_not_rounded():
    """Rows are cropped, all 320 columns kept: 64 * 320 / 100 = 204.8 -> 204 columns, not 205."""
    mask = np.zeros((240, 320), np.uint8)
    mask[20:120, 100:137] = 255
    mask[20:40, 137:150] = 255                 # an asymmetric arm
    crop = mask[20:120]

    def centred(width):
        resized = cv2.resize(crop, (width, 64), interpolation=cv2.INTER_CUBIC).astype(np.int64)
        half = resized.sum() / 2
        centre = int(np.flatnonzero(np.cumsum(resized.sum(0)) > half)[0])
        padded = np.pad(resized, ((0, 0), (32, 32)))
        return padded[:, centre:centre + 64].astype(np.uint8)
    out = align_silhouette(mask)
    np.testing.assert_array_equal(out, centred(204))
    assert not np.array_equal(out, centred(205))
    np.testing.assert_array_equal(out, align_like_opengait(mask))


def test_opengait_frame_rules():
    few = np.zeros((240, 320), np.uint8)
    few[100:139, 50] = 255                    # 39 pixels: grey sum 9,945 <= 10,000 -> no silhouette
    assert align_silhouette(few) is None and align_like_opengait(few) is None
    few[139, 50] = 255                        # 40 pixels: 10,200 -> kept
    assert align_silhouette(few) is not None
    # A 100 x 2 silhouette on the image's left edge: its mass lies in column 0 of the resized
    # image, a centre OpenGait treats as "no centre" and skips.
    thin = np.zeros((240, 320), np.uint8)
    thin[50:150, 0:2] = 255
    assert align_silhouette(thin) is None and align_like_opengait(thin) is None
    aligned, kept = align_silhouettes([few, thin, few])
    assert kept.tolist() == [0, 2]


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


@pytest.fixture(scope="module")
def synthetic_poses(tmp_path_factory, ):
    """Walking poses of the synthetic generator (noisy like a pose estimator), complete frames."""
    from conftest import run_script
    from gaitcore.pose_files import read_pose_json
    raw = tmp_path_factory.mktemp("maps") / "raw"
    run_script("datasets_preprocess/synthetic/make_synthetic_gait.py", "--out", raw, "--subjects", "2",
               "--types", "nm-01,bg-01,cl-01", "--views", "000,054,090,144", "--frames", "8",
               "--keypoint-noise", "0.055")
    poses = np.concatenate([read_pose_json(p)[1] for p in sorted((raw / "poses").glob("*.json"))])
    return poses[(poses[..., 2] > 0).all(1)]


@pytest.mark.slow
def test_skeleton_maps_agree_with_opengaits_chain(synthetic_poses):
    """Per channel, mean |ours - OpenGait's| <= 0.3 grey levels over walking poses."""
    poses = synthetic_poses[::2]
    maps = sm.skeleton_maps(poses)
    ref = np.stack([skeleton_map_like_opengait(p) for p in poses])
    assert maps.shape == ref.shape == (len(poses), 2, 64, 64) and maps.dtype == np.uint8
    diff = np.abs(maps.astype(int) - ref.astype(int))
    mad = diff.mean(axis=(0, 2, 3))
    assert len(poses) >= 40 and (mad <= 0.3).all(), mad
    assert diff.mean(axis=(2, 3)).max() <= 0.45          # no frame far off either


def test_limbs_are_opengaits_seventeen():
    """Nose-shoulder is a limb, ear-shoulder and shoulder-shoulder are not."""
    pose = standing_pose()

    def limb_energy(visible):
        p = pose.copy()
        p[:, 2] = 0.002                                  # placed, but below one grey level
        p[list(visible), 2] = 1.0
        return int(sm.skeleton_maps(p[None])[0, 0].astype(int).sum())
    assert limb_energy([0, 5]) > 0                       # nose - left shoulder
    assert limb_energy([3, 5]) == 0                      # left ear - left shoulder
    assert limb_energy([5, 6]) == 0                      # shoulder - shoulder
    assert limb_energy([11, 12]) > 0                     # hip - hip
    assert len(sm.COCO_BONES) == 17


def test_channels_joints_peaks_and_centring():
    """Where the joints of standing_pose() land, worked out by hand (no helper of the module):
    the canvas is 128 x 128, the hip midpoint (100, 110.1) goes to its centre (64, 64) and the
    body's 170-px height (nose y 20 to feet y 190) to 128 // 1.5 = 85 px, a scale of 0.5. The
    nose lands at canvas y 18.95 and the feet at 103.95; drawn +-3 sigma = 24 px around them,
    both channels reach canvas rows 0 and 127, so the crop is the whole canvas and the 64 x 64
    map is a 2:1 area reduction (output pixel (r, c) = canvas rows 2r, 2r+1, columns 2c, 2c+1).
      left hip   (86.4, 110.1) -> canvas (57.2, 64.0)   -> output row 32, column 28
      right hip  (113.6, 110.1) -> canvas (70.8, 64.0)  -> output row 32, column 35
      left knee  (84.7, 149.2) -> canvas (56.35, 83.55) -> output rows 41-42, column 28
    Mid-thigh, output row 37 (canvas rows 74-75, centre 74.5): on the thigh bone, 9.05 canvas px
    above the knee and 10.5 below the hip, so the joint map there is about
    255 * exp(-9.05^2 / (2 * 8^2)) = 134 while the limb map is at its peak."""
    pose = standing_pose()
    maps = sm.skeleton_maps(pose[None])[0]
    limbs, joints = maps[0].astype(int), maps[1].astype(int)
    assert joints.max() >= 250 and limbs.max() >= 250        # peak = confidence 1
    # The hip midpoint is the horizontal centre: the symmetric pose's mass is centred.
    cols = joints.sum(0)
    assert abs((cols * np.arange(64)).sum() / cols.sum() - 31.5) < 0.6
    for channel in (limbs, joints):                           # the whole canvas, cropped to rows 0-63
        rows = np.flatnonzero(channel.any(1))
        assert rows[0] == 0 and rows[-1] == 63
    assert joints[32, 28] >= 245 and joints[32, 35] >= 245   # both hips
    assert joints[41:43, 28].max() >= 245                     # left knee
    assert limbs[37, 28] >= 250                               # mid-thigh: on the bone ...
    assert abs(joints[37, 28] - 134) <= 10                    # ... between two joint blobs
    assert joints[37, 28] < joints[32, 28] and joints[37, 28] < joints[41:43, 28].max()


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
