"""The statistics of the studies: paired differences over populations (and training seeds),
Student-t intervals, the split of the variance into population and training-seed parts, Holm's
correction, and power (the smallest effect an interval would detect, the populations needed).

The unit of replication is the population: the training seeds of one population are averaged
first, so the interval counts each population once (valid whatever the training seeds share).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as st


def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval; (mean, nan, nan) for one value."""
    x = np.asarray(values, float)
    if len(x) < 2:
        return float(x.mean()), float("nan"), float("nan")
    half = st.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def verdict(lo: float, hi: float) -> str:
    """"better" / "worse" when the interval excludes 0, else "no difference detected"."""
    if not np.isfinite(lo):
        return "one population: no interval"
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "no difference detected"


@dataclass(frozen=True)
class Paired:
    """A paired difference over P populations x T training seeds."""

    mean: float
    lo: float
    hi: float
    p_value: float               # two-sided one-sample t-test of the population means against 0
    populations: int
    seeds_per_population: float
    sd_population_means: float
    var_population: float        # variance components of one run's difference
    var_training: float
    detectable: float            # the effect this design detects with 80% power (two-sided 5%)

    @property
    def verdict(self) -> str:
        return verdict(self.lo, self.hi)


def paired(diffs: dict[int, list[float]], level: float = 0.95) -> Paired:
    """``diffs``: population -> the differences of its training seeds."""
    means = np.array([np.mean(v) for v in diffs.values()], float)
    n = len(means)
    mean, lo, hi = t_interval(means, level)
    sd = float(means.std(ddof=1)) if n > 1 else float("nan")
    p = float(2 * st.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1)) if n > 1 and sd > 0 else float("nan")
    var_pop, var_train = variance_components(diffs)
    seeds = float(np.mean([len(v) for v in diffs.values()]))
    return Paired(mean, lo, hi, p, n, seeds, sd, var_pop, var_train, detectable_effect(sd, n))


def variance_components(groups: dict[int, list[float]]) -> tuple[float, float]:
    """One-way random-effects split of one run's variance: (between populations, between the
    training seeds of a population), by the ANOVA moment estimates (MS_within; (MS_between -
    MS_within) / T, floored at 0). NaN where a part cannot be estimated."""
    sizes = [len(v) for v in groups.values()]
    if len(groups) < 2 or min(sizes) < 1:
        return float("nan"), float("nan")
    within_df = sum(k - 1 for k in sizes)
    within = (sum(float(np.sum((np.asarray(v) - np.mean(v)) ** 2)) for v in groups.values()) / within_df
              if within_df > 0 else float("nan"))
    means = np.array([np.mean(v) for v in groups.values()])
    t_bar = len(sizes) / sum(1.0 / k for k in sizes)          # harmonic mean size (balanced: T)
    between = t_bar * float(means.var(ddof=1))
    if not np.isfinite(within):
        return float("nan"), float("nan")
    return max(0.0, (between - within) / t_bar), within


def detectable_effect(sd: float, n: int, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest true mean difference a two-sided t-test at ``alpha`` over ``n`` population
    means with this spread rejects with probability ``power`` (the usual t approximation:
    (t_{1-alpha/2} + t_{power}) x sd / sqrt(n), both with n - 1 degrees of freedom)."""
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    return float((st.t.ppf(1 - alpha / 2, n - 1) + st.t.ppf(power, n - 1)) * sd / math.sqrt(n))


def populations_needed(sd: float, effect: float, power: float = 0.8, alpha: float = 0.05,
                       most: int = 500) -> int | None:
    """The fewest populations whose detectable effect is at most ``effect`` (None beyond ``most``)."""
    for n in range(2, most + 1):
        if detectable_effect(sd, n, power, alpha) <= effect:
            return n
    return None


def halving_count(n: int) -> int:
    """How many populations halve the interval of ``n`` (same spread): the t quantile shrinks
    with the degrees of freedom, so fewer than 4n are needed."""
    target = st.t.ppf(0.975, n - 1) / math.sqrt(n) / 2
    m = n + 1
    while st.t.ppf(0.975, m - 1) / math.sqrt(m) > target:
        m += 1
    return m


def holm(p_values: dict[str, float], alpha: float = 0.05) -> dict[str, dict]:
    """Holm's step-down adjustment: ``{name: {"p", "p_holm", "reject"}}`` (NaN p-values are never
    rejected and do not count)."""
    finite = sorted((p, k) for k, p in p_values.items() if np.isfinite(p))
    m = len(finite)
    out = {k: {"p": p, "p_holm": float("nan"), "reject": False} for k, p in p_values.items()}
    running = 0.0
    stop = False
    for i, (p, k) in enumerate(finite):
        running = max(running, min(1.0, (m - i) * p))
        out[k]["p_holm"] = running
        if not stop and running < alpha:
            out[k]["reject"] = True
        else:
            stop = True
    return out
