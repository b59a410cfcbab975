"""Person silhouettes from RGB frames: ultralytics instance segmentation or GrabCut.

``UltralyticsSegmenter`` runs a YOLO ``-seg`` model (default name ``yolo11n-seg.pt``,
downloaded by ultralytics on a connected machine) and returns person instances with masks;
combine it with ``pose_estimation.track_main_walker`` to keep the walker. ``grabcut_person``
needs no weights: it segments the person inside a box (e.g. a CCVID crop, or a detection box)
with OpenCV's GrabCut; cruder, but it runs anywhere.
"""
from __future__ import annotations

import functools
from typing import Sequence

import cv2
import numpy as np

from gaitcore.pose_estimation import FrameDetections, UltralyticsModel, track_main_walker

DEFAULT_SEG_MODEL = "yolo11n-seg.pt"
PERSON_CLASS = 0


class UltralyticsSegmenter(UltralyticsModel):
    """Batched person instance segmentation with an ultralytics YOLO segmentation model."""

    task = "segment"

    def __init__(self, weights: str = DEFAULT_SEG_MODEL, device: str = "cpu", imgsz: int = 640,
                 conf: float = 0.25, batch_size: int = 16):
        super().__init__(weights, device, imgsz, conf, batch_size)

    def segment(self, frames_bgr: Sequence[np.ndarray]) -> list[FrameDetections]:
        """People and their filled outline masks (0/255) in each BGR frame."""
        out = []
        for frame, r in self.predictions(frames_bgr, classes=[PERSON_CLASS]):
            if r.boxes is None or len(r.boxes) == 0 or r.masks is None:
                out.append(FrameDetections.empty())
                continue
            h, w = frame.shape[:2]
            masks = []
            for polygon in r.masks.xy:
                mask = np.zeros((h, w), np.uint8)
                if len(polygon) >= 3:
                    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 255)
                masks.append(mask)
            n = len(masks)
            out.append(FrameDetections(*self.boxes_and_scores(r, n), np.zeros((n, 17, 3), np.float32), masks))
        return out


@functools.lru_cache(maxsize=4)
def cached_segmenter(weights: str, device: str = "cpu", imgsz: int = 640,
                     batch_size: int = 16) -> UltralyticsSegmenter:
    """One segmenter per process and setting (worker processes load the model once)."""
    return UltralyticsSegmenter(weights, device=device, imgsz=imgsz, batch_size=batch_size)


def walker_masks(segmenter: UltralyticsSegmenter, frames_bgr: Sequence[np.ndarray]
                 ) -> list[np.ndarray | None]:
    """The tracked main walker's mask in each frame (None where nobody was found)."""
    if not len(frames_bgr):
        return []
    detections = segmenter.segment(frames_bgr)
    height, width = frames_bgr[0].shape[:2]
    chosen = track_main_walker(detections, (width, height))
    return [None if d is None else detections[f].masks[d] for f, d in enumerate(chosen)]


def grabcut_person(image_bgr: np.ndarray, box: Sequence[float] | None = None,
                   iterations: int = 4, margin: float = 0.04) -> np.ndarray:
    """Foreground mask (uint8 0/255) of the person inside ``box`` (x0, y0, x1, y1).

    Without a box the whole image minus a ``margin`` is the person box (a person crop).
    """
    h, w = image_bgr.shape[:2]
    if box is None:
        mx, my = max(1, int(w * margin)), max(1, int(h * margin))
        box = (mx, my, w - mx, h - my)
    x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
    x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return np.zeros((h, w), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(image_bgr, mask, (x0, y0, x1 - x0, y1 - y0), bgd, fgd, iterations,
                    cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        return np.zeros((h, w), np.uint8)
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    # Keep the largest connected blob (the person), drop speckles.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if count <= 1:
        return np.zeros((h, w), np.uint8)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == largest).astype(np.uint8) * 255
