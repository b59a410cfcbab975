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


# Rows per block of the part-wise products: (P, BLOCK_ROWS, M) float32 stays near the cache, and
# every step after the matrix product runs in place on it, instead of whole-chunk temporaries
# (docs/speed-and-memory.md).
BLOCK_ROWS = 128


def _block_distance(p: torch.Tensor, g_t: torch.Tensor, g_sq: torch.Tensor, metric: str,
                    out: torch.Tensor) -> None:
    """Distances of the probe block ``p`` (P, rows, C) to the gallery ``g_t`` (P, C, M) into
    ``out`` (rows, M): the mean over parts, computed as a sum then divided."""
    if metric == "cos":
        torch.sum(torch.bmm(p, g_t), 0, out=out)
        out.div_(-p.shape[0]).add_(1.0)
        return
    d = torch.baddbmm(g_sq[:, None, :], p, g_t, alpha=-2)               # |g|^2 - 2 p.g
    d.add_((p ** 2).sum(-1)[..., None]).clamp_min_(0).sqrt_()
    torch.sum(d, 0, out=out)
    out.div_(p.shape[0])


def iter_distance_chunks(probe, gallery, metric: str = "euc", chunk: int = 2048,
                         device: str | torch.device = "cpu") -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(probe rows, distances (rows, M) float32)`` chunk by chunk."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (one of {', '.join(METRICS)})")
    g = _part_major(gallery).to(device)
    if metric == "cos":
        g = F.normalize(g, dim=-1)
    g_sq = (g ** 2).sum(-1)                          # (P, M)
    g_t = g.transpose(1, 2)
    n = len(probe)
    for start in range(0, n, chunk):
        p = _part_major(probe[start:start + chunk]).to(device)
        if metric == "cos":
            p = F.normalize(p, dim=-1)
        dist = torch.empty(p.shape[1], g.shape[1], device=device)
        for row in range(0, p.shape[1], BLOCK_ROWS):
            _block_distance(p[:, row:row + BLOCK_ROWS], g_t, g_sq, metric, dist[row:row + BLOCK_ROWS])
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
