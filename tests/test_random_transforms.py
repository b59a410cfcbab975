"""Every random transform of opengait/opengait/data/transforms.py draws once per sequence: the
same decision (flip or not, the angle, the warp, the erased rectangle) goes to every frame and to
every modality -- silhouettes, each skeleton-map channel and, where the transform moves them, the
keypoints. Each is run at prob 0.5 over 24 seeds, so both decisions are seen."""
from __future__ import annotations

import numpy as np
import pytest

from opengait.data.transforms import TRANSFORMS, build_transform

H, W, T = 64, 44, 3
CX, CY = (W - 1) / 2, (H - 1) / 2                 # the image centre (cv2's rotation centre)
NOSE = (30.0, 10.0)                               # a keypoint drawn into the images as a blob
RANDOM = ["RandomHorizontalFlip", "RandomRotate", "RandomPerspective", "RandomErasing"]
SEEDS = range(24)


def sequence():
    """T identical frames of an asymmetric picture: a bar on the left, a dim square at the
    bottom right, a bright 3x3 blob at NOSE. The skeleton maps' two channels are the same
    picture; the keypoints put the nose on the blob and the hip midpoint on the image centre."""
    picture = np.zeros((H, W), np.float32)
    picture[5:60, 4:12] = 0.5
    picture[45:60, 25:40] = 0.25
    x, y = int(NOSE[0]), int(NOSE[1])
    picture[y - 1:y + 2, x - 1:x + 2] = 1.0
    pose = np.zeros((T, 17, 3), np.float32)
    pose[..., 2] = 1.0
    pose[:, :, :2] = (CX, CY + 20)                # every other joint below the hips
    pose[:, 0, :2] = NOSE
    pose[:, 5, 0], pose[:, 6, 0] = 15.0, 28.0     # left / right shoulder
    pose[:, 11, :2], pose[:, 12, :2] = (CX - 2, CY), (CX + 2, CY)
    return {"0_heatmap": np.repeat(picture[None, None], T, 0).repeat(2, 1),
            "1_sil": np.repeat(picture[None], T, 0), "2_pose": pose}


def run(name, seed):
    data = sequence()
    out = build_transform([{"type": name, "prob": 0.5}], "trainer_cfg.transform")(
        {k: v.copy() for k, v in data.items()}, np.random.default_rng(seed))
    return data, out


def test_every_random_transform_is_covered_here():
    """A new random transform must be added to RANDOM (and so to these tests)."""
    deterministic = {"BaseSilCuttingTransform", "BaseSilTransform", "Resize", "NoOperation",
                     "NormalizeEmpty", "GaitGraphMultiInput"}
    keypoints_only = {"FlipSequence", "InversePosesPre", "JointNoise", "PointNoise", "RandomMove"}
    assert set(TRANSFORMS.names()) - deterministic - keypoints_only == set(RANDOM)   # (those: test_gaitgraph2.py)


@pytest.mark.parametrize("name", RANDOM)
def test_one_draw_for_every_frame_and_image_modality(name):
    applied = set()
    for seed in SEEDS:
        data, out = run(name, seed)
        sil = out["1_sil"]
        assert sil.shape == (T, H, W) and out["0_heatmap"].shape == (T, 2, H, W)
        for t in range(1, T):                     # the same decision and parameters per frame
            np.testing.assert_array_equal(sil[t], sil[0], err_msg=f"{name} seed {seed}")
        for c in range(2):                        # ... and per skeleton-map channel
            np.testing.assert_array_equal(out["0_heatmap"][:, c], sil, err_msg=f"{name} seed {seed}")
        if not np.array_equal(sil, data["1_sil"]):
            applied.add(seed)
    # The decision is the sequence generator's first draw against prob 0.5, so the seeds that
    # change the images are known beforehand: 9 of the 24, both decisions exercised. One of them,
    # seed 11, rotates by -0.014 degrees (the next draw, uniform in [-10, 10]), which moves no pixel.
    drawn = {seed for seed in SEEDS if np.random.default_rng(seed).random() < 0.5}
    assert len(drawn) == 9
    assert applied == (drawn - {11} if name == "RandomRotate" else drawn)


def test_flip_mirrors_the_keypoints_exactly_when_it_flips_the_images():
    for seed in SEEDS:
        data, out = run("RandomHorizontalFlip", seed)
        flipped = np.array_equal(out["1_sil"], data["1_sil"][..., ::-1])
        assert flipped or np.array_equal(out["1_sil"], data["1_sil"])
        pose, before = out["2_pose"], data["2_pose"]
        if flipped:       # x mirrored about 0 (models centre on the hips), left and right swapped
            np.testing.assert_array_equal(pose[:, 5], before[:, 6] * [-1, 1, 1])
            np.testing.assert_array_equal(pose[:, 6], before[:, 5] * [-1, 1, 1])
            np.testing.assert_array_equal(pose[:, 0], before[:, 0] * [-1, 1, 1])
        else:
            np.testing.assert_array_equal(pose, before)


def test_rotation_turns_the_keypoints_with_the_images():
    """The hips sit on the image centre, so the image and the keypoints turn about the same
    point: the nose keypoint must stay on the (turned) blob, to within a pixel, at its distance
    from the hips. (The keypoints tell whether a rotation was drawn: an angle of a few hundredths
    of a degree moves no pixel at cv2's 1/32-pixel interpolation.)"""
    turned = 0
    radius = np.hypot(NOSE[0] - CX, NOSE[1] - CY)
    for seed in SEEDS:
        data, out = run("RandomRotate", seed)
        pose = out["2_pose"]
        if np.array_equal(pose, data["2_pose"]):                       # not drawn: nothing moved
            np.testing.assert_array_equal(out["1_sil"], data["1_sil"])
            continue
        ys, xs = np.nonzero(out["1_sil"][0] > 0.75)                   # only the blob is above 0.5
        assert len(xs) > 0, seed
        for t in range(T):
            assert abs(pose[t, 0, 0] - xs.mean()) < 1.0 and abs(pose[t, 0, 1] - ys.mean()) < 1.0, seed
            assert np.hypot(pose[t, 0, 0] - CX, pose[t, 0, 1] - CY) == pytest.approx(radius, rel=1e-5)
        turned += np.hypot(*(pose[0, 0, :2] - NOSE)) > 1.0            # a clearly visible turn
    assert turned > 0


def test_perspective_warps_the_images_only():
    for seed in SEEDS:
        data, out = run("RandomPerspective", seed)
        np.testing.assert_array_equal(out["2_pose"], data["2_pose"])   # keypoints are left as they are


def test_erasing_zeroes_one_rectangle_in_every_frame_and_modality():
    for seed in SEEDS:
        data = sequence()
        data["1_sil"][:] = 1.0
        data["0_heatmap"][:] = 1.0
        out = build_transform([{"type": "RandomErasing", "prob": 0.5}], "t")(data, np.random.default_rng(seed))
        zero = out["1_sil"] == 0
        if not zero.any():
            continue
        rows, cols = np.flatnonzero(zero[0].any(1)), np.flatnonzero(zero[0].any(0))
        box = np.zeros((H, W), bool)
        box[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
        for t in range(T):
            np.testing.assert_array_equal(zero[t], box)                # one rectangle, every frame
            for c in range(2):
                np.testing.assert_array_equal(out["0_heatmap"][t, c] == 0, box)
        share = box.sum() / (H * W)                                    # within [sl, sh] = [0.05, 0.2]
        assert 0.03 <= share <= 0.25, share                            # (rounding of the sides)
        np.testing.assert_array_equal(out["2_pose"], sequence()["2_pose"])
