"""CASIA-B names and folders: ``<sid>-<type>-<view>`` sequences, official silhouettes, poses.

Raw layout (as released, and as the synthetic generator writes it)::

    videos/<sid>-<type>-<view>.avi
    silhouettes/<sid>/<type>/<view>/<sid>-<type>-<view>-<frame:03d>.png

Working folder made by the scripts (``--out``)::

    frames/<sid>/<type>/<view>/<frame:03d>.jpg     split_frames.py (frame = video index + 1)
    poses/<sid>-<type>-<view>.json                 make_pose_gei.py (pose JSON, see pose_files.py)
    gei/<sid>/<type>/<view>.png                    make_pose_gei.py
    pretreated/<sid>/<type>/<view>/*.pkl           rearrange_to_grew.py
    casia_b.json, quality_report.json              rearrange_to_grew.py
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gaitcore.errors import UserInputError
from gaitcore.image_io import numbered_images, read_masks
from gaitcore.pose_files import read_pose_json

SEQUENCE_NAME = re.compile(r"(?P<sid>\d{3})-(?P<type>(?:nm|bg|cl)-\d{2})-(?P<view>\d{3})")
SID, TYPE, VIEW = re.compile(r"\d{3}"), re.compile(r"(nm|bg|cl)-\d{2}"), re.compile(r"\d{3}")
# The official protocol: subjects 001-074 train, 075-124 test.
OFFICIAL_TRAIN_COUNT, OFFICIAL_SUBJECTS = 74, 124


@dataclass(frozen=True)
class CasiaSequence:
    """One sequence and where its inputs are (picklable job for the process pool)."""

    key: str                       # "<sid>/<type>/<view>"
    silhouettes: str | None = None  # folder of silhouette PNGs
    poses: str | None = None        # pose JSON
    frames: str | None = None       # folder of frames (split_frames.py output)

    @property
    def stem(self) -> str:
        return sequence_stem(self.key)


def key_from_stem(stem: str) -> str | None:
    """``<sid>/<type>/<view>`` of a file name stem ``<sid>-<type>-<view>`` (None for other names)."""
    m = SEQUENCE_NAME.fullmatch(stem)
    return None if m is None else f"{m['sid']}/{m['type']}/{m['view']}"


def sequence_stem(key: str) -> str:
    """The file name stem ``<sid>-<type>-<view>`` of a key ``<sid>/<type>/<view>`` (the inverse of
    :func:`key_from_stem`): the name of the sequence's video and of its pose JSON."""
    return key.replace("/", "-")


def pose_file(poses_dir: str | os.PathLike, key: str) -> Path:
    """Where a sequence's pose JSON is: ``<poses_dir>/<sid>-<type>-<view>.json``."""
    return Path(poses_dir) / f"{sequence_stem(key)}.json"


def sequence_folders(root: str | os.PathLike, what: str) -> dict[str, Path]:
    """``{key: folder}`` for every ``<sid>/<type>/<view>`` folder under ``root``.

    Folders whose names do not follow CASIA-B's pattern are ignored; an error names ``root``
    when none is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserInputError(f"{root}: {what} folder not found")
    found = {}
    for sid in sorted(os.scandir(root), key=lambda e: e.name):
        if not (sid.is_dir() and SID.fullmatch(sid.name)):
            continue
        for typ in sorted(os.scandir(sid.path), key=lambda e: e.name):
            if not (typ.is_dir() and TYPE.fullmatch(typ.name)):
                continue
            for view in sorted(os.scandir(typ.path), key=lambda e: e.name):
                if view.is_dir() and VIEW.fullmatch(view.name):
                    found[f"{sid.name}/{typ.name}/{view.name}"] = Path(view.path)
    if not found:
        raise UserInputError(f"{root}: no CASIA-B sequence folders (<sid>/<type>/<view>, e.g. "
                             f"001/nm-01/090) in this {what} folder")
    return found


def video_index(videos: str | os.PathLike) -> set[str]:
    """The sequences CASIA-B's videos say exist: ``<sid>/<type>/<view>`` of every
    ``<sid>-<type>-<view>.<ext>`` video in ``videos`` (the dataset's own index: an empty or
    deleted silhouette folder does not remove a sequence from it)."""
    from gaitcore.video_walkers import VIDEO_SUFFIXES
    folder = Path(videos)
    if not folder.is_dir():
        raise UserInputError(f"{folder}: videos folder not found")
    return {key for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES
            and (key := key_from_stem(p.stem)) is not None}


def load_silhouettes_and_poses(seq: CasiaSequence) -> tuple[dict, dict | None]:
    """Silhouettes keyed by frame number, and the pose JSON's keypoints keyed the same way."""
    sils = {}
    if seq.silhouettes is not None:
        sils = read_masks(numbered_images(seq.silhouettes, (".png",)))
    poses = {}
    if seq.poses is not None and Path(seq.poses).exists():
        numbers, keypoints = read_pose_json(seq.poses)
        poses = {int(n): kp for n, kp in zip(numbers, keypoints)}
    return sils, poses


def default_train_count(n_subjects: int) -> int:
    """74 of 124 on the real dataset; the same share (at least one test id) on smaller sets."""
    if n_subjects >= OFFICIAL_SUBJECTS:
        return OFFICIAL_TRAIN_COUNT
    return int(min(max(round(n_subjects * OFFICIAL_TRAIN_COUNT / OFFICIAL_SUBJECTS), 1),
                   n_subjects - 1))


def check_train_count(parser, train_count: int | None) -> None:
    """Refuse a ``--train-count`` below 1 while parsing (``parser.error``); whether it leaves test
    subjects is known once the silhouettes are listed (:func:`split_subjects`, still before any work)."""
    if train_count is not None and train_count < 1:
        parser.error(f"--train-count {train_count}: must leave train and test subjects (at least 1 each)")


def split_subjects(keys, train_count: int | None) -> tuple[list[str], list[str]]:
    """(train ids, test ids): the first ``train_count`` subjects in id order train (default
    :func:`default_train_count`), the rest test."""
    subjects = sorted({key.split("/")[0] for key in keys})
    n_train = train_count if train_count is not None else default_train_count(len(subjects))
    if not 0 < n_train < len(subjects):
        raise UserInputError(f"--train-count {n_train}: must leave train and test subjects "
                             f"(there are {len(subjects)})")
    return subjects[:n_train], subjects[n_train:]
