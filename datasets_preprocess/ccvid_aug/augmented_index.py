"""The index of DLCR-augmented CCVID tracklets (``augmented_index.csv``), shared by the
ccvid_aug scripts: which repainted tracklet came from which source tracklet, in whose outfit."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gaitcore.dataclass_csv import read_records_csv, write_records_csv

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


def write_augmented_index(root: str | os.PathLike, rows: list[AugmentedTracklet]) -> Path:
    return write_records_csv(Path(root) / INDEX_NAME, AugmentedTracklet, rows)


def read_augmented_index(root: str | os.PathLike) -> list[AugmentedTracklet]:
    return read_records_csv(Path(root) / INDEX_NAME, AugmentedTracklet,
                            "run datasets_preprocess/ccvid_aug/crop_augmented_k5.py first")
