"""CCVID names and folders (Gu et al., CVPR 2022) and how they map to the pretreated layout.

Raw layout (as released, and as the synthetic generator writes it)::

    session<k>/<pid>_<clip>/<frame:05d>.jpg          person crops of one tracklet
    train.txt  query.txt  gallery.txt                "<tracklet> <pid> <clothes label>" per line

The camera of a tracklet is its clip number, plus 12 in session3 (as the official loader
counts them). A tracklet becomes the pretreated sequence::

    <id>/<session>_<clothes>/<camera:02d>          e.g. 001/session1_u0_l0_s0_c0_a0/01

``rename_ids.py`` writes every tracklet with these fields to ``<out>/ccvid_index.csv``; the other
scripts read that index, so clothes labels, sessions and cameras travel with the data all the way
to the partition JSON the evaluator reads.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from gaitcore.atomic_files import atomic_open
from gaitcore.errors import UserInputError

SPLITS = ("train", "query", "gallery")
TRACKLET = re.compile(r"(?P<session>session\d+)/(?P<pid>\d+)_(?P<clip>\d+)")
SESSION3_CAMERA_OFFSET = 12


@dataclass(frozen=True)
class TrackletEntry:
    """One row of ccvid_index.csv."""

    split: str        # train | query | gallery
    tracklet: str     # session1/001_01
    pid: str          # as in the split file
    id: str           # zero-padded id used in the pretreated root
    clothes: str      # clothes label as in the split file
    session: str      # session1
    camera: int       # clip number (+12 in session3)

    @property
    def type(self) -> str:
        return f"{self.session}_{self.clothes}"

    @property
    def view(self) -> str:
        return f"{self.camera:02d}"

    @property
    def key(self) -> str:
        return f"{self.id}/{self.type}/{self.view}"


def camera_of(session: str, clip: str) -> int:
    return int(clip) + (SESSION3_CAMERA_OFFSET if session == "session3" else 0)


def parse_split_line(line: str) -> tuple[str, str, str] | None:
    """``(tracklet, pid, clothes)`` of one split-file line, or None if malformed."""
    parts = line.split()
    if len(parts) != 3 or not TRACKLET.fullmatch(parts[0]) or not parts[1].isdigit():
        return None
    return parts[0], parts[1], parts[2]


INDEX_FIELDS = [f.name for f in fields(TrackletEntry)]


def write_index(path: str | os.PathLike, entries: list[TrackletEntry]) -> None:
    with atomic_open(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=INDEX_FIELDS)
        writer.writeheader()
        for entry in entries:
            writer.writerow(asdict(entry))


def read_index(path: str | os.PathLike) -> list[TrackletEntry]:
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{path}: CCVID index not found; run rename_ids.py first")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != INDEX_FIELDS:
            raise UserInputError(f"{path}: not a ccvid_index.csv (columns {reader.fieldnames}, "
                                 f"expected {INDEX_FIELDS})")
        return [TrackletEntry(**{**row, "camera": int(row["camera"])}) for row in reader]
