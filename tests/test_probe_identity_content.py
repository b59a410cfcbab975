"""The identity probe's nearest-neighbour rank-1 and its average image, on hand-made inputs."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))


def test_same_view_rank1_by_hand():
    from probe_identity_content import same_view_rank1
    f = {}
    for sid, base in (("001", 0.0), ("002", 10.0)):          # gallery: each id near its own value
        for typ in ("nm-01", "nm-02", "nm-03", "nm-04"):
            f[(sid, typ, "090")] = np.array([base])
    # Probes of view 090: NM both right; BG: 001 right, 002 nearer 001 (4 < 6 away); CL both wrong.
    f.update({("001", "nm-05", "090"): np.array([1.0]), ("002", "nm-06", "090"): np.array([9.0]),
              ("001", "bg-01", "090"): np.array([2.0]), ("002", "bg-01", "090"): np.array([4.0]),
              ("001", "cl-01", "090"): np.array([7.0]), ("002", "cl-02", "090"): np.array([3.0])})
    # A second view whose gallery holds only 002: its one CL probe (of 001) cannot be right, and
    # the view-000 gallery is never searched by the view-090 probes.
    f[("002", "nm-01", "000")] = np.array([0.0])
    f[("001", "cl-01", "000")] = np.array([0.0])
    assert same_view_rank1(f) == {"NM": 100.0, "BG": 50.0, "CL": 0.0}


def test_average_image_cuts_ten_columns_each_side_and_averages_frames():
    from probe_identity_content import average_image
    frames = np.zeros((2, 64, 64), np.uint8)
    frames[0, :, 10:54] = 255                                 # the kept 44 columns, in one of two frames
    frames[:, :, :10] = 255                                   # cut away
    out = average_image(frames, (32, 22))
    assert out.shape == (32 * 22,) and out == pytest.approx(np.full(32 * 22, 0.5))
    maps = np.zeros((3, 2, 64, 64), np.uint8)
    maps[:, 1] = 255                                          # two channels, flattened one after the other
    two = average_image(maps, (16, 11))
    assert two.shape == (2 * 16 * 11,) and two[:176].max() == 0 and two[176:].min() == pytest.approx(1.0)
