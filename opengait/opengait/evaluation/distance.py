"""Distances between part-based embeddings, computed in chunks so large galleries fit.

Embeddings are (N, C, P): C channels per horizontal part, P parts. ``euc`` is the mean over
parts of the per-part Euclidean distance; ``cos`` is 1 - the mean over parts of the per-part
cosine similarity. Both are what OpenGait reports.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

METRICS = ("euc", "cos")


def _part_major(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    return x.permute(2, 0, 1).contiguous()          # (P, N, C)


def iter_distance_chunks(probe, gallery, metric: str = "euc", chunk: int = 2048,
                         device: str | torch.device = "cpu") -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(probe rows, distances (rows, M) float32)`` chunk by chunk."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (one of {', '.join(METRICS)})")
    g = _part_major(gallery).to(device)
    if metric == "cos":
        g = F.normalize(g, dim=-1)
    g_sq = (g ** 2).sum(-1)                          # (P, M)
    n = len(probe)
    for start in range(0, n, chunk):
        p = _part_major(probe[start:start + chunk]).to(device)
        if metric == "cos":
            sim = torch.bmm(F.normalize(p, dim=-1), g.transpose(1, 2))   # (P, rows, M)
            dist = 1.0 - sim.mean(0)
        else:
            sq = (p ** 2).sum(-1)[..., None] + g_sq[:, None, :] - 2 * torch.bmm(p, g.transpose(1, 2))
            dist = sq.clamp_min(0).sqrt().mean(0)
        yield slice(start, min(start + chunk, n)), dist.cpu().numpy()


def pairwise_distance(probe, gallery, metric: str = "euc", chunk: int = 2048) -> np.ndarray:
    """The full (N, M) distance matrix (use :func:`iter_distance_chunks` when it is too big)."""
    out = np.empty((len(probe), len(gallery)), np.float32)
    for rows, dist in iter_distance_chunks(probe, gallery, metric, chunk):
        out[rows] = dist
    return out


def topk_indices(probe, gallery, k: int, metric: str = "euc", chunk: int = 2048) -> np.ndarray:
    """(N, k) gallery indices of each probe's k nearest, in order; memory O(chunk x M)."""
    k = min(k, len(gallery))
    out = np.empty((len(probe), k), np.int64)
    for rows, dist in iter_distance_chunks(probe, gallery, metric, chunk):
        part = np.argpartition(dist, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(dist, part, axis=1), axis=1, kind="stable")
        out[rows] = np.take_along_axis(part, order, axis=1)
    return out
