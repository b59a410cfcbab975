"""People walking through a video: tracked, segmented and posed, ready for ``build_sequence``.

``find_walkers`` turns one video into ``WalkerTrack`` objects, one per person tracked long
enough. Masks and keypoints come from ultralytics models (a segmentation model for silhouettes,
a pose model for COCO-17 keypoints; detections of both are tied to the same person by box
overlap) or from precomputed files of a single-walker video (``--sils-from`` / ``--pose-from``):

    <sils-from>/<video stem>/*.png                 masks, frame number = the digits ending the name
    <sils-from>/<sid>/<type>/<view>/*.png          the same, CASIA-B layout (stem <sid>-<type>-<view>)
    <pose-from>/<video stem>.json                  pose JSON (frame numbers start at 1)

Frame numbers are video index + 1 throughout. ``walker_arrays`` runs the same alignment,
skeleton maps and quality rules as the preprocessing scripts (``build_sequence``), so a model
sees exactly what it was trained on.
"""
from __future__ import annotations

import argparse

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from gaitcore.cli import DEVICE_HELP, positive_int, resolve_device_name
from gaitcore.errors import UserInputError
from gaitcore.image_io import numbered_images, read_masks
from gaitcore.pose_estimation import FrameDetections, box_iou, link_tracks
from gaitcore.pose_files import read_pose_json
from gaitcore.sequence_builder import QualityRules, SequenceRecord, build_sequence


@dataclass
class WalkerTrack:
    """One tracked person: per frame number, a box, a 0/255 mask and (17, 3) keypoints."""

    track_id: int
    boxes: dict[int, np.ndarray] = field(default_factory=dict)
    masks: dict[int, np.ndarray | str] = field(default_factory=dict)
    poses: dict[int, np.ndarray] | None = field(default_factory=dict)

    @property
    def frames(self) -> list[int]:
        return sorted(self.boxes)

    def __len__(self) -> int:
        return len(self.boxes)


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(np.asarray(mask) > 127)
    if ys.size == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def precomputed_mask_dir(root: Path, stem: str) -> Path:
    """The folder of a video's precomputed masks: <root>/<stem>/ or CASIA-B <root>/<sid>/<type>/<view>/."""
    direct = root / stem
    if direct.is_dir():
        return direct
    parts = stem.split("-")
    if len(parts) == 4:  # <sid>-<type>-<index>-<view>, e.g. 001-nm-01-090
        nested = root / parts[0] / f"{parts[1]}-{parts[2]}" / parts[3]
        if nested.is_dir():
            return nested
    raise UserInputError(f"{root}: no masks for video {stem!r} (expected {direct}/ or the CASIA-B "
                         "layout <sid>/<type>/<view>/)")


def read_precomputed_masks(root: Path, stem: str) -> dict[int, np.ndarray | str]:
    return read_masks(numbered_images(precomputed_mask_dir(root, stem)))


def read_precomputed_poses(root: Path, stem: str) -> dict[int, np.ndarray]:
    path = root / f"{stem}.json"
    if not path.is_file():
        raise UserInputError(f"{path}: no pose file for video {stem!r}")
    numbers, keypoints = read_pose_json(path)
    return {int(n): k for n, k in zip(numbers, keypoints)}


def tracks_from_detections(detections: Sequence[FrameDetections], min_frames: int,
                           min_iou: float = 0.3, max_gap: int = 5) -> list[WalkerTrack]:
    """People linked over frames by box overlap; tracks shorter than ``min_frames`` are left out."""
    tracks = []
    for track in link_tracks(detections, min_iou, max_gap):
        if len(track) < min_frames:
            continue
        walker = WalkerTrack(len(tracks))
        for f, d in track:
            walker.boxes[f + 1] = detections[f].boxes[d]
            if detections[f].keypoints is not None and detections[f].keypoints[d].any():
                walker.poses[f + 1] = detections[f].keypoints[d]
            if detections[f].masks is not None:
                walker.masks[f + 1] = detections[f].masks[d]
        tracks.append(walker)
    return tracks


def attach_masks(tracks: list[WalkerTrack], seg: Sequence[FrameDetections], min_iou: float = 0.3) -> None:
    """Give each track, in each frame, the segmented person whose box overlaps its box most."""
    for walker in tracks:
        for n, box in walker.boxes.items():
            det = seg[n - 1]
            if not len(det) or det.masks is None:
                continue
            iou = box_iou(box[None], det.boxes)[0]
            best = int(np.argmax(iou))
            if iou[best] >= min_iou:
                walker.masks[n] = det.masks[best]


def find_walkers(frames_bgr: Sequence[np.ndarray], stem: str, min_frames: int, segmenter=None,
                 pose_estimator=None, sils_from: Path | None = None, pose_from: Path | None = None,
                 use_pose: bool = True) -> list[WalkerTrack]:
    """The walkers of one video (see the module docstring for the sources of masks and poses)."""
    if sils_from is not None:  # precomputed: one walker
        walker = WalkerTrack(0, masks=read_precomputed_masks(Path(sils_from), stem))
        for n, mask in walker.masks.items():
            box = None if isinstance(mask, str) else mask_box(mask)
            walker.boxes[n] = box if box is not None else np.zeros(4, np.float32)
        if not use_pose:
            walker.poses = None
        elif pose_from is not None:
            walker.poses = read_precomputed_poses(Path(pose_from), stem)
        elif pose_estimator is not None:
            walker.poses = pose_of_box(pose_estimator.detect(frames_bgr), walker.boxes)
        else:
            raise UserInputError("poses needed: give --pose-from or a pose model")
        return [walker] if len(walker) >= min_frames else []
    if pose_estimator is None and use_pose and pose_from is None:
        raise UserInputError("poses needed: give --pose-from or a pose model")
    if segmenter is None:
        raise UserInputError("silhouettes needed: give --sils-from or a segmentation model")
    seg = segmenter.segment(frames_bgr)
    if use_pose and pose_from is None:
        tracks = tracks_from_detections(pose_estimator.detect(frames_bgr), min_frames)
        attach_masks(tracks, seg)
    else:
        tracks = tracks_from_detections(seg, min_frames)
        for walker in tracks:
            walker.poses = read_precomputed_poses(Path(pose_from), stem) if use_pose else None
    return tracks


def pose_of_box(detections: Sequence[FrameDetections], boxes: dict[int, np.ndarray],
                min_iou: float = 0.3) -> dict[int, np.ndarray]:
    """Keypoints of the detected person that overlaps each known box most."""
    poses = {}
    for n, box in boxes.items():
        det = detections[n - 1] if 0 < n <= len(detections) else None
        if det is None or not len(det):
            continue
        iou = box_iou(box[None], det.boxes)[0]
        best = int(np.argmax(iou))
        if iou[best] >= min_iou:
            poses[n] = det.keypoints[best]
    return poses


def walker_arrays(walker: WalkerTrack, key: str, rules: QualityRules
                  ) -> tuple[dict[str, np.ndarray] | None, SequenceRecord]:
    """The pretreated arrays of a walker (``{0_heatmap, 1_sil, 2_pose}``) and its quality record."""
    return build_sequence(key, walker.masks, walker.poses, rules)


def draw_walker(frame: np.ndarray, box: np.ndarray | None, pose: np.ndarray | None, label: str,
                colour: tuple[int, int, int] = (0, 200, 255), min_conf: float = 0.3) -> np.ndarray:
    """Draw a box, a COCO-17 skeleton and a label on a BGR frame (in place; returned)."""
    from gaitcore.skeleton_maps import COCO_BONES
    if pose is not None:
        for a, b in COCO_BONES:
            if pose[a, 2] >= min_conf and pose[b, 2] >= min_conf:
                cv2.line(frame, tuple(int(v) for v in pose[a, :2]), tuple(int(v) for v in pose[b, :2]),
                         (0, 255, 0), 2, cv2.LINE_AA)
        for x, y, c in pose:
            if c >= min_conf:
                cv2.circle(frame, (int(x), int(y)), 2, (0, 0, 255), -1, cv2.LINE_AA)
    if box is not None and np.any(box):
        x0, y0, x1, y1 = (int(v) for v in box)
        cv2.rectangle(frame, (x0, y0), (x1, y1), colour, 2)
        cv2.putText(frame, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return frame


VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")


def model_file(text: str) -> str:
    """An argparse ``type`` for ultralytics model options: a .pt checkpoint or a .yaml definition
    (refused while parsing otherwise, before any work or worker starts)."""
    from gaitcore.pose_estimation import MODEL_SUFFIXES
    suffix = Path(text).suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text}: a {suffix or 'suffix-less'} file; only ultralytics .pt checkpoints (loaded in its safe "
            "mode) and .yaml model definitions are accepted")
    return text


def add_detection_arguments(parser, *, seg_model: bool = True, pose_model: bool = True, imgsz: int = 640,
                            help_texts: dict[str, str] | None = None) -> None:
    """The options of the ultralytics detection models, one definition for every script:
    ``--seg-model`` (when ``seg_model``), ``--pose-model`` (when ``pose_model``), ``--device``
    (default ``auto``: CUDA if present, resolved by :func:`resolve_device_name`) and ``--imgsz``
    (default ``imgsz``). ``help_texts`` replaces the help of an option (keys ``seg_model``,
    ``pose_model``, ``device``, ``imgsz``); ``{default}`` in it is the option's default."""
    from gaitcore.pose_estimation import DEFAULT_POSE_MODEL
    from gaitcore.segmentation import DEFAULT_SEG_MODEL
    texts = {"seg_model": "ultralytics segmentation weights for silhouettes (default {default})",
             "pose_model": "ultralytics pose weights for COCO-17 keypoints (default {default})",
             "device": "device of the detection models: " + DEVICE_HELP,
             "imgsz": "detection input size (default {default})", **(help_texts or {})}
    unknown = set(texts) - {"seg_model", "pose_model", "device", "imgsz"}
    if unknown:
        raise ValueError(f"add_detection_arguments: no option {', '.join(sorted(unknown))}")
    options = [("--seg-model", "seg_model", DEFAULT_SEG_MODEL, model_file)] if seg_model else []
    options += [("--pose-model", "pose_model", DEFAULT_POSE_MODEL, model_file)] if pose_model else []
    options += [("--device", "device", "auto", str), ("--imgsz", "imgsz", imgsz, positive_int)]
    for flag, key, default, kind in options:
        parser.add_argument(flag, type=kind, default=default, help=texts[key].format(default=default))


def add_walker_source_arguments(parser) -> None:
    """Where masks and poses come from: models (default) or precomputed files; quality rules."""
    from gaitcore.preprocess_runner import DEFAULT_CONFIG
    g = parser.add_argument_group("walker detection (the same path as the preprocessing scripts)")
    add_detection_arguments(g)
    g.add_argument("--sils-from", help="precomputed masks instead of --seg-model: <dir>/<video stem>/*.png "
                                       "(or CASIA-B <dir>/<sid>/<type>/<view>/); one walker per video")
    g.add_argument("--pose-from", help="precomputed pose JSON instead of --pose-model: <dir>/<video stem>.json")
    g.add_argument("--config", default=str(DEFAULT_CONFIG),
                   help="quality rules (the `custom` block of configs/preprocess.yaml)")
    g.add_argument("--quality-rule", action="append", default=[], metavar="KEY=VALUE",
                   help="override one quality rule, e.g. min_frames=15")


class WalkerSource:
    """Models or precomputed files, loaded once, turning a video into tracked walkers."""

    def __init__(self, args, use_pose: bool = True):
        from gaitcore.preprocess_runner import load_quality_rules
        self.args, self.use_pose = args, use_pose
        self.rules = load_quality_rules(args.config, "custom", args.quality_rule)
        self._segmenter = self._pose = None

    def segmenter(self):
        if self._segmenter is None and not self.args.sils_from:
            from gaitcore.segmentation import cached_segmenter
            self._segmenter = cached_segmenter(self.args.seg_model, resolve_device_name(self.args.device),
                                               self.args.imgsz)
        return self._segmenter

    def pose_estimator(self):
        if self._pose is None and self.use_pose and not self.args.pose_from:
            from gaitcore.pose_estimation import cached_pose_estimator
            self._pose = cached_pose_estimator(self.args.pose_model, resolve_device_name(self.args.device),
                                               self.args.imgsz)
        return self._pose

    def load_models(self) -> None:
        """Load the detection models now, so a bad checkpoint fails before any video is read."""
        self.segmenter()
        self.pose_estimator()

    def walkers(self, frames_bgr: Sequence[np.ndarray], stem: str) -> list[WalkerTrack]:
        return find_walkers(frames_bgr, stem, self.rules.min_frames, self.segmenter(), self.pose_estimator(),
                            Path(self.args.sils_from) if self.args.sils_from else None,
                            Path(self.args.pose_from) if self.args.pose_from else None, self.use_pose)


def list_videos(source: str | Path) -> list[Path]:
    """Videos of a folder (recursively, sorted), a text file listing paths, or a single video."""
    source = Path(source)
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        return [source]
    if source.is_file():
        lines = [line.strip() for line in source.read_text().splitlines()]
        return [Path(line) if Path(line).is_absolute() else source.parent / line
                for line in lines if line and not line.startswith("#")]
    raise UserInputError(f"{source}: no such folder, video or list file")
