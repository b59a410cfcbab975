"""The index of DLCR-augmented CCVID tracklets (``augmented_index.csv``), shared by the
ccvid_aug scripts: which repainted tracklet came from which source tracklet, in whose outfit."""
from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from gaitcore.atomic_files import atomic_open
from gaitcore.errors import UserInputError

INDEX_NAME = "augmented_index.csv"


@dataclass(frozen=True)
class AugmentedTracklet:
    tracklet: str          # session1/001_01_aug03 (folder of the augmented crops)
    source: str            # session1/001_01
    variant: int
    pid: str
    target_outfit: str     # the other identity's outfit it now wears
    target_pid: str
    prompt: str

    def sequence_type(self, source_type: str) -> str:
        """The pretreated type: ``aug<variant>_<source type>``."""
        return f"aug{self.variant:02d}_{source_type}"


FIELDS = [f.name for f in fields(AugmentedTracklet)]


def write_augmented_index(root: str | os.PathLike, rows: list[AugmentedTracklet]) -> Path:
    path = Path(root) / INDEX_NAME
    with atomic_open(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
    return path


def read_augmented_index(root: str | os.PathLike) -> list[AugmentedTracklet]:
    path = Path(root) / INDEX_NAME
    if not path.exists():
        raise UserInputError(f"{path}: not found; run datasets_preprocess/ccvid_aug/crop_augmented_k5.py first")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != FIELDS:
            raise UserInputError(f"{path}: unexpected columns {reader.fieldnames}")
        return [AugmentedTracklet(**{**r, "variant": int(r["variant"])}) for r in reader]
