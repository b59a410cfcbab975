"""Silhouette alignment of the pretreated contract (docs/pretreated-format.md).

OpenGait's pretreatment rule, followed exactly so that the same PNGs give byte-identical
``1_sil.pkl`` arrays here and there:

1. a frame whose grey values sum to ``MIN_GREY_SUM`` (10,000) or less has no silhouette;
2. crop the rows to the first and last row holding a non-zero pixel;
3. resize to height 64 with ``cv2.INTER_CUBIC``, the width being ``int(64 * (w / h))``
   (truncated, not rounded);
4. the centre column is the first one where the cumulative column mass passes half of the
   total; a frame whose centre is column 0 is left out (OpenGait skips it as "no centre");
5. keep the 64 columns ``centre - 32 .. centre + 31``, zero outside the resized image.
"""
from __future__ import annotations

import cv2
import numpy as np

ALIGNED_SIZE = 64
MIN_GREY_SUM = 10_000     # a frame at or below this sum of grey values is empty


def align_silhouette(mask: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray | None:
    """Align one silhouette (2-D, bool or uint8 0..255) to ``(size, size)`` uint8.

    Returns ``None`` for a frame OpenGait's pretreatment leaves out: grey sum at or below
    ``MIN_GREY_SUM``, a resized width of 0, or a centre at column 0.
    """
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D silhouette, got shape {mask.shape}")
    img = mask.astype(np.uint8) * 255 if mask.dtype == bool else np.asarray(mask, np.uint8)
    if int(img.sum(dtype=np.int64)) <= MIN_GREY_SUM:
        return None
    rows = np.flatnonzero(img.any(axis=1))
    crop = img[rows[0]:rows[-1] + 1]
    height, width = crop.shape
    new_width = int(size * (width / height))        # OpenGait truncates the float width
    if new_width < 1:
        return None
    resized = cv2.resize(crop, (new_width, size), interpolation=cv2.INTER_CUBIC)
    cumulative = np.cumsum(resized.sum(axis=0, dtype=np.int64))
    centre = int(np.searchsorted(cumulative, cumulative[-1] / 2, side="right"))
    if centre == 0 or centre >= new_width:          # no centre: OpenGait skips the frame
        return None
    half = size // 2
    out = np.zeros((size, size), np.uint8)
    src_lo, src_hi = max(centre - half, 0), min(centre + half, new_width)
    dst_lo = src_lo - (centre - half)
    out[:, dst_lo:dst_lo + (src_hi - src_lo)] = resized[:, src_lo:src_hi]
    return out


def align_silhouettes(masks: np.ndarray | list, size: int = ALIGNED_SIZE
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Align a sequence; return ``(aligned (K, size, size) uint8, kept frame indices (K,))``.

    Frames without a silhouette (see :func:`align_silhouette`) are left out.
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
