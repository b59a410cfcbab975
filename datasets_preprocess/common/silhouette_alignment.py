"""Silhouette alignment of the pretreated contract (design.md §3).

Crop the rows to the silhouette's vertical extent, resize to height 64 keeping the aspect
ratio, centre on the column where the cumulative mass first passes half of the total, and pad
or cut to 64 columns. Same rule as OpenGait's pretreatment, so data made here and there match.
"""
from __future__ import annotations

import cv2
import numpy as np

ALIGNED_SIZE = 64


def align_silhouette(mask: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray | None:
    """Align one silhouette (2-D, bool or uint8 0..255) to ``(size, size)`` uint8.

    Returns ``None`` for an empty silhouette (nothing to align).
    """
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D silhouette, got shape {mask.shape}")
    img = mask.astype(np.uint8) * 255 if mask.dtype == bool else np.asarray(mask, np.uint8)
    rows = np.flatnonzero(img.any(axis=1))
    if rows.size == 0:
        return None
    crop = img[rows[0]:rows[-1] + 1]
    height, width = crop.shape
    new_width = max(1, int(round(width * size / height)))
    resized = cv2.resize(crop, (new_width, size), interpolation=cv2.INTER_CUBIC)
    cumulative = np.cumsum(resized.sum(axis=0, dtype=np.int64))
    if cumulative[-1] == 0:
        return None
    centre = int(np.searchsorted(cumulative, cumulative[-1] / 2, side="right"))
    half = size // 2
    out = np.zeros((size, size), np.uint8)
    src_lo, src_hi = max(centre - half, 0), min(centre + half, new_width)
    dst_lo = src_lo - (centre - half)
    out[:, dst_lo:dst_lo + (src_hi - src_lo)] = resized[:, src_lo:src_hi]
    return out


def align_silhouettes(masks: np.ndarray | list, size: int = ALIGNED_SIZE
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Align a sequence; return ``(aligned (K, size, size) uint8, kept frame indices (K,))``.

    Empty frames are left out (their indices are missing from ``kept``).
    """
    aligned, kept = [], []
    for i, mask in enumerate(masks):
        out = align_silhouette(np.asarray(mask), size)
        if out is not None:
            aligned.append(out)
            kept.append(i)
    if not aligned:
        return np.zeros((0, size, size), np.uint8), np.zeros(0, np.int64)
    return np.stack(aligned), np.asarray(kept, np.int64)
