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
