"""From raw frames to one pretreated sequence: synchronise, filter, align, draw, report.

Every dataset script ends in :func:`build_sequence`: it takes the silhouettes and poses of a
sequence keyed by frame number, aligns the silhouettes, draws the skeleton maps and says what
it dropped and why. Quality filtering decides which *training* data is kept: a training frame
needs a usable silhouette and a usable pose. A test sequence (gallery or probe) is never
thinned: it keeps every frame that has a silhouette (OpenGait's rule), frames without a pose
get zero keypoints with confidence 0 (empty skeleton maps), and only a sequence without any
silhouette is missing. :class:`QualityLog` collects the records crash-safely (one JSON line per
sequence, appended as soon as it is done) and writes ``quality_report.json``.
"""
from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Mapping

import numpy as np

from gaitcore.atomic_files import atomic_write_text
from gaitcore.pretreated_io import HEATMAP, NUM_JOINTS, POSE, SILHOUETTE
from gaitcore.silhouette_alignment import ALIGNED_SIZE, align_silhouette
from gaitcore.skeleton_maps import skeleton_maps

# Frame drop reasons.
NO_SILHOUETTE = "no_silhouette"            # a pose but no silhouette file for the frame
UNREADABLE_SILHOUETTE = "unreadable_silhouette"
EMPTY_SILHOUETTE = "empty_silhouette"
SMALL_SILHOUETTE = "small_silhouette"      # too few pixels, or far below the sequence's median
                                           # area or height (a broken mask)
TOUCHES_EDGE = "touches_edge"              # cut by the top or bottom of the image
NO_POSE = "no_pose"                        # no person / keypoints for the frame
BAD_POSE_FILE = "bad_pose_file"            # a keypoint file that cannot be parsed
WEAK_POSE = "weak_pose"                    # too few confident joints
NOT_ALIGNED_SIZE = "not_64x64"             # a pre-aligned silhouette (GREW) of another size
# Sequence drop reasons.
TOO_SHORT = "too_short"
NO_SILHOUETTE_FRAMES = "no_silhouette_frames"   # a test sequence with no silhouette at all


@dataclass(frozen=True)
class QualityRules:
    """When a frame or a sequence is usable (defaults: configs/preprocess.yaml)."""

    min_sil_pixels: int = 200          # foreground pixels (value > 127) in the source silhouette
    min_area_ratio: float = 0.3        # ... and at least this share of the sequence's median area
    min_height_ratio: float = 0.75     # box height at least this share of the sequence's median
    edge_tolerance: int = 0            # silhouette pixels allowed on the top/bottom row (-1: no check)
    min_joint_conf: float = 0.3        # a joint counts as confident from this confidence
    min_confident_joints: int = 10     # of 17
    min_frames: int = 8                # shorter sequences are dropped

    @classmethod
    def from_mapping(cls, values: Mapping) -> "QualityRules":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown quality rule(s): {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        rules = cls(**values)
        rules.check()
        return rules

    # Allowed ranges: (lowest, highest) -- counts are whole numbers, shares fractions.
    RANGES = {"min_sil_pixels": (0, None), "min_area_ratio": (0.0, 1.0), "min_height_ratio": (0.0, 1.0),
              "edge_tolerance": (-1, None), "min_joint_conf": (0.0, 1.0), "min_confident_joints": (0, 17),
              "min_frames": (1, None)}

    def check(self) -> None:
        """Every rule a number of the right kind within its range (one line naming the first
        that is not)."""
        for f in fields(self):
            value, (lo, hi) = getattr(self, f.name), self.RANGES[f.name]
            whole = f.type in (int, "int")
            kind_ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
                (not whole or float(value).is_integer()) and math.isfinite(value)
            if not kind_ok or value < lo or (hi is not None and value > hi):
                span = f"from {lo}" + (f" to {hi}" if hi is not None else " up")
                raise ValueError(f"quality rule {f.name}={value!r}: expected {'a whole number' if whole else 'a number'} "
                                 f"{span}")


@dataclass
class SequenceRecord:
    """What happened to one sequence (one row of the quality report)."""

    key: str
    status: str = "kept"               # kept | dropped
    frames_in: int = 0
    frames_kept: int = 0
    dropped_frames: dict = field(default_factory=dict)
    reason: str | None = None          # why the whole sequence was dropped
    detail: str | None = None          # the error message for unreadable inputs
    split: str = "train"               # train: quality-filtered | test: never thinned
    frames_without_pose: int = 0       # test frames kept with zero keypoints (no usable pose)
    invalid_joints: int = 0            # joints read as missing: not finite, negative confidence
                                       # or far outside the image (see usable_joints)

    def drop(self, reason: str) -> "SequenceRecord":
        self.status, self.reason = "dropped", reason
        return self


def frame_checks(mask: np.ndarray, rules: QualityRules) -> tuple[int, int, str | None]:
    """(foreground area, box height, failure reason or None) of one source silhouette."""
    fg = mask > 127
    rows = np.flatnonzero(fg.any(1))
    if rows.size == 0:
        return 0, 0, EMPTY_SILHOUETTE
    area, height = int(fg.sum()), int(rows[-1] - rows[0] + 1)
    if area < rules.min_sil_pixels:
        return area, height, SMALL_SILHOUETTE
    if rules.edge_tolerance >= 0 and max(int(fg[0].sum()), int(fg[-1].sum())) > rules.edge_tolerance:
        return area, height, TOUCHES_EDGE
    return area, height, None


def usable_joints(pose: np.ndarray, image_hw: tuple[int, int] | None) -> tuple[np.ndarray, int]:
    """The keypoints with every impossible joint turned into a missing one ``(0, 0, 0)``:
    a coordinate or confidence that is not finite, a negative confidence, or a point more
    than one image size outside the image (a broken estimator or file, not an error of a few
    pixels). ``image_hw`` None skips the range check (GREW: keypoints in the pixels of an
    original image we do not have). Returns ``(cleaned float32 copy, number of joints cleaned)``."""
    pose = np.array(pose, np.float32, copy=True)
    x, y, c = pose[:, 0], pose[:, 1], pose[:, 2]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(pose).all(axis=1) | (c < 0)
        if image_hw is not None:
            h, w = image_hw
            bad |= (x < -w) | (x > 2 * w) | (y < -h) | (y > 2 * h)
    pose[bad] = 0.0
    return pose, int(bad.sum())


def build_sequence(key: str, silhouettes: Mapping[int, np.ndarray | str],
                   poses: Mapping[int, np.ndarray] | None, rules: QualityRules, *,
                   test: bool = False, prealigned: bool = False
                   ) -> tuple[dict[str, np.ndarray] | None, SequenceRecord]:
    """Synchronise by frame number, filter (training only), align and draw one sequence.

    ``silhouettes`` maps frame number -> grayscale mask (uint8/bool), or a drop-reason string
    for a frame whose file could not be read. ``poses`` maps frame number -> (17, 3) COCO-17
    keypoints in the same image's pixels (or a drop-reason string); ``None`` makes a
    silhouette-only sequence. ``test`` keeps every frame with a silhouette (see the module
    docstring); ``prealigned`` writes 64x64 silhouettes as they are (GREW ships them aligned).
    Returns ``({"0_heatmap", "1_sil", "2_pose"} arrays or None, record)``.
    """
    if test:
        return _build_test_sequence(key, silhouettes, poses, prealigned)
    numbers = sorted(set(silhouettes) | set(poses or {}))
    record = SequenceRecord(key, frames_in=len(numbers))
    dropped = Counter()
    candidates = []                                   # (frame, mask, area, height, pose)
    for n in numbers:
        mask = silhouettes.get(n)
        pose = None if poses is None else poses.get(n)
        if mask is None:
            dropped[NO_SILHOUETTE] += 1
            continue
        if isinstance(mask, str):
            dropped[mask] += 1
            continue
        if poses is not None:
            if pose is None:
                dropped[NO_POSE] += 1
                continue
            if isinstance(pose, str):  # e.g. a malformed keypoint file
                dropped[pose] += 1
                continue
            pose, invalid = usable_joints(pose, None if prealigned else np.shape(mask)[:2])
            record.invalid_joints += invalid
            confident = int((pose[:, 2] >= rules.min_joint_conf).sum())
            if confident < rules.min_confident_joints:
                dropped[WEAK_POSE] += 1
                continue
        area, height, problem = frame_checks(np.asarray(mask), rules)
        if problem:
            dropped[problem] += 1
            continue
        candidates.append((n, mask, area, height, pose))
    if candidates:  # broken silhouettes: much smaller or shorter than the walker usually is
        median_area = float(np.median([c[2] for c in candidates]))
        median_height = float(np.median([c[3] for c in candidates]))
        usable = [c for c in candidates if c[2] >= rules.min_area_ratio * median_area
                  and c[3] >= rules.min_height_ratio * median_height]
        if len(usable) < len(candidates):
            dropped[SMALL_SILHOUETTE] += len(candidates) - len(usable)
        candidates = usable
    aligned, kept = [], []
    for n, mask, _, _, pose in candidates:
        sil, problem = _aligned(np.asarray(mask), prealigned)
        if problem:
            dropped[problem] += 1
            continue
        aligned.append(sil)
        kept.append((n, pose))
    record.dropped_frames = dict(sorted(dropped.items()))
    record.frames_kept = len(kept)
    if len(kept) < max(rules.min_frames, 1):
        return None, record.drop(TOO_SHORT)
    poses_kept = None if poses is None else [p for _, p in kept]
    return _sequence_arrays(aligned, poses_kept), record


def _aligned(mask: np.ndarray, prealigned: bool) -> tuple[np.ndarray | None, str | None]:
    """(64x64 silhouette, None) or (None, drop reason)."""
    if prealigned:
        if mask.shape != (ALIGNED_SIZE, ALIGNED_SIZE):
            return None, NOT_ALIGNED_SIZE
        return np.asarray(mask, np.uint8), None
    sil = align_silhouette(mask)
    return (None, EMPTY_SILHOUETTE) if sil is None else (sil, None)


def _build_test_sequence(key: str, silhouettes: Mapping, poses: Mapping | None,
                         prealigned: bool) -> tuple[dict[str, np.ndarray] | None, SequenceRecord]:
    """Every frame with a silhouette, in frame order; missing poses become zeros."""
    numbers = sorted(set(silhouettes) | set(poses or {}))
    record = SequenceRecord(key, frames_in=len(numbers), split="test")
    dropped = Counter()
    aligned, kept_poses = [], []
    for n in numbers:
        mask = silhouettes.get(n)
        if mask is None or isinstance(mask, str):
            dropped[NO_SILHOUETTE if mask is None else mask] += 1
            continue
        sil, problem = _aligned(np.asarray(mask), prealigned)
        if problem:
            dropped[problem] += 1
            continue
        aligned.append(sil)
        if poses is not None:
            pose = poses.get(n)
            if isinstance(pose, np.ndarray) and pose.shape == (NUM_JOINTS, 3):
                pose, invalid = usable_joints(pose, None if prealigned else np.shape(mask)[:2])
                record.invalid_joints += invalid
                kept_poses.append(pose)
            else:
                kept_poses.append(np.zeros((NUM_JOINTS, 3), np.float32))
                record.frames_without_pose += 1
    record.dropped_frames = dict(sorted(dropped.items()))
    record.frames_kept = len(aligned)
    if not aligned:
        return None, record.drop(NO_SILHOUETTE_FRAMES)
    return _sequence_arrays(aligned, None if poses is None else kept_poses), record


def _sequence_arrays(silhouettes: list[np.ndarray], poses: list[np.ndarray] | None
                     ) -> dict[str, np.ndarray]:
    arrays = {SILHOUETTE: np.stack(silhouettes)}
    if poses is not None:
        pose_arr = np.stack([np.asarray(p, np.float32) for p in poses]).astype(np.float32)
        arrays[POSE] = pose_arr
        arrays[HEATMAP] = skeleton_maps(pose_arr)
    return dict(sorted(arrays.items()))


class QualityLog:
    """Sequence records of a preprocessing output, kept across runs.

    ``<stem>_log.jsonl`` gets one line per finished sequence at once (a killed run keeps
    what it did); :meth:`write_report` folds it into ``<stem>_report.json`` (the latest
    record of each sequence wins) with totals per reason.
    """

    def __init__(self, out_dir: str | os.PathLike, stem: str = "quality"):
        self.out_dir = Path(out_dir)
        self.log_path = self.out_dir / f"{stem}_log.jsonl"
        self.report_path = self.out_dir / f"{stem}_report.json"

    def records(self) -> dict[str, dict]:
        latest: dict[str, dict] = {}
        if self.log_path.exists():
            for line in self.log_path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill
                latest[rec["key"]] = rec
        return latest

    def add(self, record: SequenceRecord) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(record)) + "\n")
            f.flush()

    def write_report(self, extra: Mapping | None = None) -> dict:
        records = self.records()
        totals = Counter()
        frames = Counter()
        for rec in records.values():
            totals[f"sequences_{rec['status']}"] += 1
            totals[f"{rec.get('split', 'train')}_sequences_{rec['status']}"] += 1
            if rec["reason"]:
                totals[f"sequences_dropped_{rec['reason']}"] += 1
            frames["test_frames_without_pose"] += rec.get("frames_without_pose", 0)
            frames["joints_invalid"] += rec.get("invalid_joints", 0)
            frames["frames_in"] += rec["frames_in"]
            frames["frames_kept"] += rec["frames_kept"] if rec["status"] == "kept" else 0
            for reason, count in rec["dropped_frames"].items():
                frames[f"frames_dropped_{reason}"] += count
        report = {"summary": {**dict(sorted(totals.items())), **dict(sorted(frames.items())),
                              **dict(extra or {})},
                  "sequences": dict(sorted(records.items()))}
        atomic_write_text(self.report_path, json.dumps(report, indent=1) + "\n")
        return report
