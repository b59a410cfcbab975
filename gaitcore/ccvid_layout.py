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

import os
import re
from dataclasses import dataclass

from gaitcore.dataclass_csv import read_records_csv, write_records_csv

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


def write_index(path: str | os.PathLike, entries: list[TrackletEntry]) -> None:
    write_records_csv(path, TrackletEntry, entries)


def read_index(path: str | os.PathLike) -> list[TrackletEntry]:
    return read_records_csv(path, TrackletEntry, "the CCVID index; run rename_ids.py first")
