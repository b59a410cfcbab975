"""Re-identification metrics of the CCVID protocol (Gu et al., CVPR 2022).

For each query the gallery is ranked by distance. Gallery entries of the same identity seen by
the same camera are ignored in both settings. **General**: every other entry of the same
identity is a true match. **Clothes-changing (CC)**: entries of the same identity in the same
clothes are ignored too, so only the same person in other clothes counts. Queries without a
true match in a setting are left out of that setting's averages (and counted).
Reported: CMC rank-k, mAP and mINP (mean inverse negative penalty: true matches / position of
the hardest one).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SETTINGS = ("general", "cc")


@dataclass
class QueryResult:
    first_hit: int | None      # 0-based rank of the first true match among the kept entries
    ap: float | None
    inp: float | None
    positives: int


def rank_query(dist_row: np.ndarray, q_pid, q_cam, q_clothes, g_pids: np.ndarray,
               g_cams: np.ndarray, g_clothes: np.ndarray, setting: str) -> QueryResult:
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r} (one of {', '.join(SETTINGS)})")
    same_id = g_pids == q_pid
    junk = same_id & (g_cams == q_cam)
    if setting == "cc":
        junk |= same_id & (g_clothes == q_clothes)
    good = same_id & ~junk
    order = np.argsort(dist_row, kind="stable")
    kept = order[~junk[order]]
    hits = good[kept]
    n_pos = int(hits.sum())
    if n_pos == 0:
        return QueryResult(None, None, None, 0)
    positions = np.flatnonzero(hits)                        # 0-based ranks of the true matches
    precision = np.arange(1, n_pos + 1) / (positions + 1)
    return QueryResult(int(positions[0]), float(precision.mean()), n_pos / float(positions[-1] + 1), n_pos)


def summarise(results: list[QueryResult], ranks=(1, 5, 10, 20)) -> dict:
    valid = [r for r in results if r.first_hit is not None]
    out = {"queries": len(valid), "queries_without_match": len(results) - len(valid)}
    if not valid:
        return {**out, **{f"rank{k}": float("nan") for k in ranks}, "mAP": float("nan"), "mINP": float("nan")}
    first = np.array([r.first_hit for r in valid])
    for k in ranks:
        out[f"rank{k}"] = float(np.mean(first < k))
    out["mAP"] = float(np.mean([r.ap for r in valid]))
    out["mINP"] = float(np.mean([r.inp for r in valid]))
    return out


def evaluate_settings(dist: np.ndarray, q_pids, q_cams, q_clothes, g_pids, g_cams, g_clothes,
                      ranks=(1, 5, 10, 20)) -> tuple[dict, dict]:
    """``({setting: summary}, {setting: [QueryResult per query]})`` for both settings."""
    g = [np.asarray(a) for a in (g_pids, g_cams, g_clothes)]
    per_query = {s: [rank_query(dist[i], q_pids[i], q_cams[i], q_clothes[i], *g, s)
                     for i in range(len(dist))] for s in SETTINGS}
    return {s: summarise(r, ranks) for s, r in per_query.items()}, per_query
