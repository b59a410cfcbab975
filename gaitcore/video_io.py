"""Reading videos frame by frame with clear errors for unreadable or truncated files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from gaitcore.errors import VideoReadError


def iter_video_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Yield BGR frames of a video; raise ``VideoReadError`` if it cannot be opened or has no
    decodable frame. A video that breaks off part-way yields the frames before the damage."""
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: video not found")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: empty file")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoReadError(f"{path}: OpenCV cannot open this video")
        count = 0
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            count += 1
            yield frame
        if count == 0:
            raise VideoReadError(f"{path}: no decodable frame (corrupt or truncated video)")
    finally:
        cap.release()


def read_video(path: str | os.PathLike) -> list[np.ndarray]:
    """All BGR frames of a video (see :func:`iter_video_frames`)."""
    return list(iter_video_frames(path))


def declared_frame_count(path: str | os.PathLike) -> int:
    """The frame count the container declares (0 when unknown); compare with what decodes to
    spot a truncated file."""
    cap = cv2.VideoCapture(str(path))
    try:
        return max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0) if cap.isOpened() else 0
    finally:
        cap.release()
