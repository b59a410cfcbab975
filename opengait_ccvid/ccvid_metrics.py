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

import numpy as np

from opengait.evaluation.retrieval import QueryResult, rank_with_masks, summarise

SETTINGS = ("general", "cc")
__all__ = ["SETTINGS", "QueryResult", "match_masks", "rank_query", "summarise", "evaluate_settings"]


def match_masks(q_pid, q_cam, q_clothes, g_pids: np.ndarray, g_cams: np.ndarray,
                g_clothes: np.ndarray, setting: str) -> tuple[np.ndarray, np.ndarray]:
    """(true matches, ignored entries) of the gallery for one query in one setting."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r} (one of {', '.join(SETTINGS)})")
    same_id = g_pids == q_pid
    junk = same_id & (g_cams == q_cam)
    if setting == "cc":
        junk |= same_id & (g_clothes == q_clothes)
    return same_id & ~junk, junk


def rank_query(dist_row: np.ndarray, q_pid, q_cam, q_clothes, g_pids: np.ndarray,
               g_cams: np.ndarray, g_clothes: np.ndarray, setting: str) -> QueryResult:
    good, junk = match_masks(q_pid, q_cam, q_clothes, g_pids, g_cams, g_clothes, setting)
    return rank_with_masks(dist_row, good, junk)


def evaluate_settings(dist: np.ndarray, q_pids, q_cams, q_clothes, g_pids, g_cams, g_clothes,
                      ranks=(1, 5, 10, 20)) -> tuple[dict, dict]:
    """``({setting: summary}, {setting: [QueryResult per query]})`` for both settings."""
    g = [np.asarray(a) for a in (g_pids, g_cams, g_clothes)]
    per_query = {s: [rank_query(dist[i], q_pids[i], q_cams[i], q_clothes[i], *g, s)
                     for i in range(len(dist))] for s in SETTINGS}
    return {s: summarise(r, ranks) for s, r in per_query.items()}, per_query
