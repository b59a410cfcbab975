"""Study v3's analysis, fixed before its confirmatory runs (docs/results.md, "The benchmark and study v3"):

- every comparison a - b is paired within (population, training seed); the training seeds of a
  population are averaged, and the 95% Student-t interval runs over the populations;
- a difference whose interval holds 0 is "no difference detected", reported beside the effect
  the design detects with 80% power;
- the primary questions are HybridGait - SkeletonGait++ on CL and on the NM/BG/CL mean (rank-1);
  claims about single conditions (NM, BG, CL of every comparison) are made only where Holm's
  correction over all of them keeps p < 0.05;
- a part of HybridGait helps when HybridGait - (HybridGait without it) is above 0 on the mean with
  its Holm-corrected p < 0.05 (Holm over the four parts), hurts when below, and is switched off
  in the shipped configs only if it hurts on the mean and helps in no condition;
- the variance of one run's difference is split into a population and a training-seed part.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from study.stats import Paired, holm, paired

Runs = dict[str, dict[tuple[int, int], dict]]       # model -> (population, training seed) -> record


def metric_value(record: dict, name: str) -> float:
    """Rank-1 / mAP of a condition, or of the NM/BG/CL mean ("mean", "mean-mAP"), in percent;
    any other metric name as stored, in percent."""
    m = record["metrics"]
    if name in ("mean", "mean-mAP"):
        suffix = "" if name == "mean" else "-mAP"
        return 100 * float(np.mean([m[f"{c}{suffix}"] for c in ("NM", "BG", "CL")]))
    return 100 * float(m[name])


def differences(runs: Runs, a: str, b: str, metric: str) -> dict[int, list[float]]:
    """population -> [a - b for each training seed both ran]."""
    out = defaultdict(list)
    for key in sorted(set(runs.get(a, {})) & set(runs.get(b, {}))):
        out[key[0]].append(metric_value(runs[a][key], metric) - metric_value(runs[b][key], metric))
    return dict(out)


def compare(runs: Runs, pairs, metrics) -> list[dict]:
    """One row per comparison: {"comparison", "a", "b", metric: Paired}."""
    rows = []
    for label, a, b in pairs:
        cells = {}
        for metric in metrics:
            diffs = differences(runs, a, b, metric)
            if diffs:
                cells[metric] = paired(diffs)
        if cells:
            rows.append({"comparison": label, "a": a, "b": b, **cells})
    return rows


def per_condition_claims(rows: list[dict], conditions) -> dict[str, dict]:
    """Holm's correction over every (comparison, condition) p-value."""
    p_values = {f"{r['comparison']} | {c}": r[c].p_value for r in rows for c in conditions if c in r}
    return holm(p_values)


def part_verdicts(rows: list[dict], parts: list[tuple[str, str, str]], conditions) -> dict[str, dict]:
    """Whether each HybridGait part helps, hurts or shows no difference on the mean (Holm over
    the parts), and whether the shipped default should switch it off (the rule above)."""
    by_label = {r["comparison"]: r for r in rows}
    present = [label for label, _, _ in parts if label in by_label and "mean" in by_label[label]]
    adjusted = holm({label: by_label[label]["mean"].p_value for label in present})
    claims = per_condition_claims([by_label[label] for label in present], conditions)
    out = {}
    for label in present:
        mean: Paired = by_label[label]["mean"]
        significant = adjusted[label]["reject"]
        effect = "helps" if significant and mean.mean > 0 else "hurts" if significant else "no difference detected"
        helps_somewhere = any(claims.get(f"{label} | {c}", {}).get("reject") and by_label[label][c].mean > 0
                              for c in conditions if c in by_label[label])
        out[label] = {"verdict": effect, "p_holm": adjusted[label]["p_holm"],
                      "switch_off": effect == "hurts" and not helps_somewhere}
    return out


def variance_shares(rows: list[dict], metric: str) -> dict[str, tuple[float, float]]:
    """comparison -> (population share, training-seed share) of one run's difference variance."""
    out = {}
    for r in rows:
        if metric in r:
            p, t = r[metric].var_population, r[metric].var_training
            total = p + t
            out[r["comparison"]] = (p / total, t / total) if np.isfinite(total) and total > 0 else (float("nan"),) * 2
    return out
