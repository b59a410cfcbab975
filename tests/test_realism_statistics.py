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
