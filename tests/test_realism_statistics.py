"""The realism benchmark's confidence statistics on hand-made records."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))


def test_confidence_of_visible_and_hidden_joints_by_hand():
    from bench_synthetic_realism import error_record, error_statistics
    gt = np.zeros((2, 17, 3), np.float32)
    gt[..., 1] = np.arange(17) * 10.0
    gt[:, :10, 2] = 0.9                   # 10 visible joints per frame
    gt[:, 10:14, 2] = 0.4                 # 4 hidden (in the image, behind something)
    gt[:, 14:, 2] = 0.0                   # 3 outside the image: neither
    pred = gt.copy()
    pred[0, :, 2] = 0.8                   # frame 0 reports 0.8 everywhere
    pred[1, :, 2] = 0.6                   # frame 1 reports 0.6 ...
    pred[1, 10:14, 2] = 0.2               # ... and 0.2 for its hidden joints
    stats = error_statistics([error_record(pred, gt, np.full(2, 170.0, np.float32))])
    assert stats["conf_visible"] == pytest.approx((10 * 0.8 + 10 * 0.6) / 20)
    assert stats["conf_hidden"] == pytest.approx((4 * 0.8 + 4 * 0.2) / 8)
    assert stats["hidden_share"] == pytest.approx(8 / 28)
    # An undetected frame counts for neither.
    pred[1, :, :] = np.nan
    stats = error_statistics([error_record(pred, gt, np.full(2, 170.0, np.float32))])
    assert stats["conf_visible"] == pytest.approx(0.8) and stats["hidden_share"] == pytest.approx(4 / 14)


def test_steadiness_of_confidences_and_maps_by_hand():
    """conf_change: mean |confidence change| between consecutive frames over joints in the
    image; map_change: the maps' mean |change| beyond the exact keypoints' (0 when the estimate
    is the truth)."""
    from bench_synthetic_realism import error_record, error_statistics
    t = 6
    gt = np.zeros((t, 17, 3), np.float32)
    gt[..., 0] = 50.0 + 3.0 * (np.arange(17) % 3)
    gt[..., 1] = 20.0 + np.arange(17) * 6.0
    gt[:, :15, 2] = 0.9
    heights = np.full(t, 100.0, np.float32)
    same = error_statistics([error_record(gt.copy(), gt, heights)])
    assert same["conf_change"] == 0.0 and same["map_change"] == 0.0
    flicker = gt.copy()
    flicker[1::2, :15, 2] = 0.5                 # every other frame 0.5: |change| 0.4 each time
    flicker[:, 15:, 2] = 0.7                    # joints outside the image do not count
    stats = error_statistics([error_record(flicker, gt, heights)])
    assert stats["conf_change"] == pytest.approx(0.4)
    assert stats["map_change"] > 5.0            # peaks drop from 0.9 to 0.5 of 255 grey levels
    # An undetected frame is left out; two sequences average sequence by sequence.
    gone = flicker.copy()
    gone[2:] = np.nan
    assert np.isnan(error_record(gone, gt, heights)["conf_change"])
    both = error_statistics([error_record(flicker, gt, heights), error_record(gt.copy(), gt, heights)])
    assert both["conf_change"] == pytest.approx(0.2)


def walking_knee(t: int = 40) -> np.ndarray:
    """Exact keypoints of a body 100 px tall whose knees rise and fall by +-5 px and whose
    ankles swing by +-8 px, hips fixed; every joint visible."""
    gt = np.zeros((t, 17, 3), np.float32)
    gt[..., 0] = 50.0 + 3.0 * (np.arange(17) % 3)
    gt[..., 1] = 20.0 + np.arange(17) * 6.0
    gt[..., 2] = 0.9
    phase = np.linspace(0, 4 * np.pi, t, endpoint=False)
    gt[:, [13, 14], 1] += 5.0 * np.sin(phase)[:, None]
    gt[:, [15, 16], 0] += 8.0 * np.cos(phase)[:, None]
    return gt


def test_near_error_motion_kept_and_smoothness_by_hand():
    """An estimate that reports 40% of the knees' rise and all of the ankles' swing keeps 0.4
    of the legs' vertical motion and 1.0 of their horizontal; the arms do not move (no share).
    A constant offset changes neither; an error alternating +-1 px has correlation -1 from one
    frame to the next; joints beyond 0.1 body heights are not near and count for nothing."""
    from bench_synthetic_realism import error_record, near_error_structure
    gt = walking_knee()
    heights = np.full(len(gt), 100.0, np.float32)
    pred = gt.copy()
    pred[:, [13, 14], 1] = gt[0, 13, 1] + 0.4 * (gt[:, [13, 14], 1] - gt[0, 13, 1])
    pred[..., :2] += 2.0                                    # a constant offset: no motion, no lag
    stats = near_error_structure([error_record(pred, gt, heights)])
    assert stats["kept_legs_y"] == pytest.approx(0.4, abs=1e-5)
    assert stats["kept_legs_x"] == pytest.approx(1.0, abs=1e-5)
    assert np.isnan(stats["kept_arms_x"]) and np.isnan(stats["kept_arms_y"])
    flicker = gt.copy()
    flicker[:, :, 0] += np.where(np.arange(len(gt)) % 2 == 0, 1.0, -1.0)[:, None]
    flicker[:, 5, 0] += 50.0                                # a far joint: left out
    stats = near_error_structure([error_record(flicker, gt, heights)])
    assert stats["near_lag_corr"] == pytest.approx(-1.0, abs=1e-6)
    assert stats["kept_legs_x"] == pytest.approx(1.0, abs=1e-5)   # the flicker is not motion
    assert stats["kept_legs_y"] == pytest.approx(1.0, abs=1e-5)


def test_estimates_read_from_pose_files_and_the_exact_folder(tmp_path):
    """--estimates: a sequence's keypoints at the asked frame numbers; frames absent from the
    file or with every confidence 0 (nobody found) are NaN; poses_exact/ is the ground truth
    where a set keeps it."""
    from bench_synthetic_realism import estimates_at, ground_truth_folder
    from gaitcore.pose_files import format_pose_json
    kp = np.arange(3 * 17 * 3, dtype=np.float32).reshape(3, 17, 3) % 7 + 1.0
    kp[2, :, 2] = 0.0
    (tmp_path / "s.json").write_text(format_pose_json(kp, [4, 5, 6], (320, 240), {"model": "test"}))
    got = estimates_at(tmp_path / "s.json", [5, 6, 9, 4])
    np.testing.assert_array_equal(got[0], kp[1])
    np.testing.assert_array_equal(got[3], kp[0])
    assert np.isnan(got[1]).all() and np.isnan(got[2]).all()
    assert np.isnan(estimates_at(tmp_path / "missing.json", [1])).all()
    (tmp_path / "set" / "poses").mkdir(parents=True)
    assert ground_truth_folder(tmp_path / "set") == tmp_path / "set" / "poses"
    (tmp_path / "set" / "poses_exact").mkdir()
    assert ground_truth_folder(tmp_path / "set") == tmp_path / "set" / "poses_exact"


def test_template_pull_by_hand():
    """Walkers 002 and 003 stand in the same pose P0; walker 001 has hips 6 px wider and knees
    4 px lower, and its estimate reports half of that departure. 001's template (its 3 nearest
    frames of other walkers) is P0, so the pull on the hips' x and the legs' y is -0.5; the
    others' templates are each other's (departure 0: no weight); parts that never depart have
    no pull (NaN); an estimate that reports the truth has pull 0."""
    from bench_synthetic_realism import error_record, template_pull
    base = np.zeros((4, 17, 3), np.float32)
    base[..., 0] = 50.0 + 3.0 * (np.arange(17) % 3)
    base[..., 1] = 20.0 + np.arange(17) * 6.0
    base[:, 11, 0], base[:, 12, 0] = 45.0, 55.0
    base[..., 2] = 0.9
    heights = np.full(4, 100.0, np.float32)
    own = base.copy()
    own[:, 11, 0] -= 3.0
    own[:, 12, 0] += 3.0
    own[:, [13, 14], 1] += 4.0
    half = own.copy()
    half[:, 11, 0] += 1.5
    half[:, 12, 0] -= 1.5
    half[:, [13, 14], 1] -= 2.0
    records = {"001-nm-01-090": error_record(half, own, heights),
               "002-nm-01-090": error_record(base.copy(), base, heights),
               "003-nm-01-090": error_record(base.copy(), base, heights)}
    pull = template_pull(records, neighbours=3)
    assert pull["pull_hips_x"] == pytest.approx(-0.5, abs=1e-5)
    assert pull["pull_legs_y"] == pytest.approx(-0.5, abs=1e-5)
    assert np.isnan(pull["pull_head_x"]) and np.isnan(pull["pull_arms_y"]) and np.isnan(pull["pull_legs_x"])
    records["001-nm-01-090"] = error_record(own.copy(), own, heights)
    assert template_pull(records, neighbours=3)["pull_hips_x"] == pytest.approx(0.0, abs=1e-6)
