"""Ranking one query against a gallery: CMC and average precision with true-match and ignored
("junk") masks. The CCVID protocol and the custom-dataset evaluator build their masks on this."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class QueryResult:
    first_hit: int | None      # 0-based rank of the first true match among the kept entries
    ap: float | None
    inp: float | None
    positives: int
    missing: bool = False      # an expected query without features: a miss, AP 0
    last_hit: int | None = None  # 0-based rank of the last (hardest) true match; INP = positives / (last_hit + 1)


def rank_with_masks(dist_row: np.ndarray, good: np.ndarray, junk: np.ndarray) -> QueryResult:
    """Rank the gallery by distance, drop ``junk`` entries, score the ``good`` ones."""
    order = np.argsort(dist_row, kind="stable")
    kept = order[~junk[order]]
    hits = good[kept]
    n_pos = int(hits.sum())
    if n_pos == 0:
        return QueryResult(None, None, None, 0)
    positions = np.flatnonzero(hits)                        # 0-based ranks of the true matches
    precision = np.arange(1, n_pos + 1) / (positions + 1)
    return QueryResult(int(positions[0]), float(precision.mean()), n_pos / float(positions[-1] + 1), n_pos,
                       last_hit=int(positions[-1]))


def missing_query(good: np.ndarray) -> QueryResult:
    """An expected query that has no features: never a hit, AP and INP 0 -- counted whenever
    the gallery holds a true match for it (like any other query)."""
    return QueryResult(None, 0.0, 0.0, int(np.count_nonzero(good)), missing=True)


def summarise(results: list[QueryResult], ranks=(1, 5, 10, 20)) -> dict:
    """CMC rank-k, mAP, mINP over the queries that have a true match in the gallery (the others
    are counted); a missing query with a true match is a miss."""
    valid = [r for r in results if r.positives > 0]
    out = {"queries": len(valid), "queries_without_match": len(results) - len(valid),
           "queries_missing": sum(r.missing for r in valid)}
    if not valid:
        return {**out, **{f"rank{k}": float("nan") for k in ranks}, "mAP": float("nan"), "mINP": float("nan")}
    first = np.array([np.inf if r.first_hit is None else r.first_hit for r in valid])
    for k in ranks:
        out[f"rank{k}"] = float(np.mean(first < k))
    out["mAP"] = float(np.mean([r.ap for r in valid]))
    out["mINP"] = float(np.mean([r.inp for r in valid]))
    return out
