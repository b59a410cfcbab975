"""The study's statistics against hand-computed values."""
from __future__ import annotations

import math
import sys

import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from study import stats  # noqa: E402


def test_variance_components_by_hand():
    # Within: ((1-2)^2 + (3-2)^2 + (5-6)^2 + (7-6)^2) / 2 = 2; population means 2 and 6: variance 8,
    # times T = 2 seeds: 16; between populations (16 - 2) / 2 = 7.
    assert stats.variance_components({1: [1.0, 3.0], 2: [5.0, 7.0]}) == pytest.approx((7.0, 2.0))
    # A spread between populations smaller than the seeds' noise is floored at 0.
    assert stats.variance_components({1: [0.0, 4.0], 2: [1.0, 3.0]})[0] == 0.0


def test_paired_uses_population_means():
    # Two seeds per population; means 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.3027.
    result = stats.paired({0: [0.5, 1.5], 1: [2.0, 2.0], 2: [2.0, 4.0]})
    assert result.mean == pytest.approx(2.0) and result.populations == 3
    assert result.hi - result.mean == pytest.approx(4.3027 / math.sqrt(3), abs=1e-3)
    # one-sample t = 2 / (1 / sqrt 3) = 3.4641 with 2 df: two-sided p = 0.0742
    assert result.p_value == pytest.approx(0.0742, abs=1e-3) and result.verdict == "no difference detected"


def test_power_and_sizing_by_hand():
    # sd 2, 5 populations: (t_0.975(4) 2.7764 + t_0.8(4) 0.9410) x 2 / sqrt 5 = 3.3251
    assert stats.detectable_effect(2.0, 5) == pytest.approx(3.3251, abs=1e-3)
    assert stats.populations_needed(2.0, 3.3251) == 5
    assert stats.populations_needed(2.0, 3.0) == 6
    # Halving the interval of 5: t(4)/sqrt 5 = 1.2415; 13 gives t(12)/sqrt 13 = 0.6043 <= 0.6207,
    # 12 gives 0.6354 (not 20, as 4 x 5 would say).
    assert stats.halving_count(5) == 13


def test_holm_by_hand():
    out = stats.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": float("nan")})
    assert out["a"]["p_holm"] == pytest.approx(0.03) and out["a"]["reject"]
    assert out["c"]["p_holm"] == pytest.approx(0.06) and not out["c"]["reject"]
    assert out["b"]["p_holm"] == pytest.approx(0.06) and not out["b"]["reject"]
    assert not out["d"]["reject"]
