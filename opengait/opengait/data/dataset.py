"""A dataset over a pretreated root and a partition JSON (OpenGait's ``data_cfg``)."""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from datasets_preprocess.common.pretreated_io import (PretreatedFormatError, SequenceRef,
                                                      list_sequences, modality_layout,
                                                      read_partition)
from opengait.config import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SequenceInfo:
    """A sequence of the dataset: its training label and its folder (a SequenceRef)."""

    label: int        # index of the id among the dataset's ids (training classes)
    ref: SequenceRef

    subject = property(lambda self: self.ref.subject)
    type = property(lambda self: self.ref.type)
    view = property(lambda self: self.ref.view)
    path = property(lambda self: self.ref.path)
    key = property(lambda self: self.ref.key)


class GaitDataset(torch.utils.data.Dataset):
    """Sequences of the TRAIN_SET (``train=True``) or TEST_SET ids, with the files chosen by
    ``data_in_use`` (booleans over the sorted .pkl files, or their positions, as OpenGait counts
    them). Roots written here or by OpenGait's scripts (``<view>.pkl``) both work: see
    :func:`datasets_preprocess.common.pretreated_io.modality_layout`.

    An item is ``{"data": {modality: array}, "index": i}``; metadata is in ``self.sequences``.
    """

    def __init__(self, data_cfg: dict, train: bool):
        root, partition = data_cfg["dataset_root"], data_cfg["dataset_partition"]
        if not root or not Path(root).is_dir():
            raise ConfigError(f"data_cfg.dataset_root: {root!r} is not a folder")
        if not partition or not Path(partition).is_file():
            raise ConfigError(f"data_cfg.dataset_partition: {partition!r} is not a file")
        split = read_partition(partition)
        self.partition = split
        wanted = split["TRAIN_SET"] if train else split["TEST_SET"]
        refs = list_sequences(root, subjects=wanted)
        if not refs:
            raise ConfigError(f"{root}: no sequences of the {'TRAIN' if train else 'TEST'}_SET "
                              f"ids listed in {partition}")
        missing = sorted(set(wanted) - {r.subject for r in refs})
        if missing:
            log.warning("%d %s ids of %s have no sequences in %s (e.g. %s)", len(missing),
                        "train" if train else "test", partition, root, ", ".join(missing[:3]))
        try:
            self.layout = modality_layout(refs[0], data_cfg.get("data_in_use"), "data_cfg.data_in_use")
            for ref in refs:
                self.layout.check(ref)
        except PretreatedFormatError as e:
            raise ConfigError(f"{e} (run datasets_preprocess/validate_pretreated.py --root {root})") from None
        self.modalities = list(self.layout.names)
        self.ids = sorted({r.subject for r in refs})
        label_of = {s: i for i, s in enumerate(self.ids)}
        self.sequences = [SequenceInfo(label_of[r.subject], r)
                          for r in refs]
        self.cache: dict[int, dict] | None = None
        if data_cfg.get("cache"):
            self.cache = {i: self._load(i) for i in tqdm(range(len(self)), desc="cache", unit="seq")}

    def __len__(self) -> int:
        return len(self.sequences)

    def _load(self, index: int) -> dict[str, np.ndarray]:
        return self.layout.read(self.sequences[index].ref)

    def __getitem__(self, index: int) -> dict:
        data = self.cache[index] if self.cache is not None else self._load(index)
        return {"data": data, "index": index}

    def indices_by_label(self) -> dict[int, list[int]]:
        groups = defaultdict(list)
        for i, seq in enumerate(self.sequences):
            groups[seq.label].append(i)
        return dict(groups)

    def length_hints(self) -> list[int]:
        """A number that grows with each sequence's frame count (its first file's size, read
        without unpickling), for grouping sequences of similar length into test batches."""
        first = self.layout.positions[0]
        return [(seq.path / seq.ref.files[first]).stat().st_size for seq in self.sequences]
