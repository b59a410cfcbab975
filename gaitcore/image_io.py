"""Reading silhouettes and frames, turning unreadable files into counted drop reasons."""
from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from gaitcore.atomic_files import is_temp_name
from gaitcore.sequence_builder import UNREADABLE_SILHOUETTE

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
GREY_TOLERANCE = 16       # max channel spread of a grey mask stored as colour (JPEG chroma noise)
COLOUR_THRESHOLD = 32     # a coloured mask's person pixels: some channel above this
_TRAILING_NUMBER = re.compile(r"(\d+)$")


def frame_number(path: str | os.PathLike) -> int | None:
    """The frame number at the end of a file stem (``001-nm-01-090-017.png`` -> 17)."""
    m = _TRAILING_NUMBER.search(Path(path).stem)
    return int(m.group(1)) if m else None


def numbered_images(folder: str | os.PathLike, suffixes=IMAGE_SUFFIXES) -> dict[int, Path]:
    """Image files of a folder keyed by their trailing frame number (temp files skipped)."""
    out = {}
    for entry in os.scandir(folder):
        name = entry.name
        if is_temp_name(name) or not name.lower().endswith(suffixes):
            continue
        n = frame_number(name)
        if n is not None:
            out[n] = Path(entry.path)
    return dict(sorted(out.items()))


_END_MARKERS = {".jpg": b"\xff\xd9", ".jpeg": b"\xff\xd9", ".png": b"IEND\xaeB`\x82"}


def _read_checked(path: Path, flags: int) -> np.ndarray | None:
    """Decode an image, or None for a missing, empty, truncated or corrupt file.

    Decoders fill a truncated JPEG with grey instead of failing, so JPEG and PNG files must
    also end with their end marker (within the last KB: some writers append padding)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if not data:
        return None
    marker = _END_MARKERS.get(path.suffix.lower())
    if marker is not None and marker not in data[-1024:]:
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags)


def read_mask(path: str | os.PathLike) -> np.ndarray | str:
    """A grayscale silhouette (uint8, person 255), or ``"unreadable_silhouette"`` for an
    empty/corrupt file.

    An 8-bit grey mask is returned as it is (what OpenGait's pretreatment reads). Other mask
    encodings are turned into 0/255 rather than read as (nearly) empty: a 0/1 mask, a 16-bit
    mask, and a coloured one (a label colour per person or a palette PNG: every pixel with a
    colour brighter than COLOUR_THRESHOLD in some channel is the person; a grey image stored as
    RGB, channels within GREY_TOLERANCE of each other as JPEG leaves them, is read as grey)."""
    mask = _read_checked(Path(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        return UNREADABLE_SILHOUETTE
    if mask.ndim == 3:
        colour = mask[..., :3]
        if colour.dtype == np.uint8 and int((colour.max(axis=2) - colour.min(axis=2)).max()) <= GREY_TOLERANCE:
            mask = _read_checked(Path(path), cv2.IMREAD_GRAYSCALE)  # grey stored as RGB(A): as OpenGait reads it
        else:
            level = COLOUR_THRESHOLD if colour.dtype == np.uint8 else 0
            return np.where(colour.max(axis=2) > level, 255, 0).astype(np.uint8)
    if mask.dtype != np.uint8:                             # 16-bit (or float) masks
        return np.where(mask > 0, 255, 0).astype(np.uint8)
    if mask.max() == 1:                                    # a 0/1 mask
        return mask * np.uint8(255)
    return mask


_decode_threads = min(4, os.cpu_count() or 1)
_decoder: ThreadPoolExecutor | None = None


def set_decode_threads(n: int) -> None:
    """Threads that decode one sequence's masks (pool worker processes use 1: the processes
    already fill the cores)."""
    global _decode_threads, _decoder
    _decode_threads, _decoder = max(1, int(n)), None


def read_masks(paths: dict[int, Path]) -> dict[int, np.ndarray | str]:
    """:func:`read_mask` of every path, keyed the same way, decoded in a few threads (OpenCV
    releases the GIL while it decodes, so this is up to ``_decode_threads`` times faster)."""
    global _decoder
    if _decode_threads <= 1 or len(paths) < 8:
        return {n: read_mask(p) for n, p in paths.items()}
    if _decoder is None:
        _decoder = ThreadPoolExecutor(_decode_threads, thread_name_prefix="decode")
    return dict(zip(paths, _decoder.map(read_mask, paths.values())))


def read_image(path: str | os.PathLike) -> np.ndarray | None:
    """A BGR image, or None for an empty/truncated/corrupt file."""
    return _read_checked(Path(path), cv2.IMREAD_COLOR)
