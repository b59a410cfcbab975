"""A dataset over a pretreated root and a partition JSON (OpenGait's ``data_cfg``)."""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from datasets_preprocess.common.pretreated_io import (PretreatedFormatError, list_sequences,
                                                      read_partition, read_sequence,
                                                      sequence_files)
from opengait.config import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SequenceInfo:
    label: int        # index of the id among the dataset's ids (training classes)
    subject: str
    type: str
    view: str
    path: Path

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.type}/{self.view}"


class GaitDataset(torch.utils.data.Dataset):
    """Sequences of the TRAIN_SET (``train=True``) or TEST_SET ids, with the modalities chosen
    by ``data_in_use`` (booleans over the sorted .pkl files, as OpenGait counts them).

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
        files = [p.stem for p in sequence_files(refs[0].path)]
        use = data_cfg.get("data_in_use")
        if use is None:
            use = [True] * len(files)
        if len(use) != len(files):
            raise ConfigError(f"data_cfg.data_in_use has {len(use)} entries but the sequences of "
                              f"{root} hold {len(files)} files ({', '.join(files)})")
        self.modalities = [name for name, on in zip(files, use) if on]
        if not self.modalities:
            raise ConfigError("data_cfg.data_in_use switches every modality off")
        self.ids = sorted({r.subject for r in refs})
        label_of = {s: i for i, s in enumerate(self.ids)}
        self.sequences = [SequenceInfo(label_of[r.subject], r.subject, r.type, r.view, r.path)
                          for r in refs]
        self.cache: dict[int, dict] | None = None
        if data_cfg.get("cache"):
            self.cache = {i: self._load(i) for i in tqdm(range(len(self)), desc="cache", unit="seq")}

    def __len__(self) -> int:
        return len(self.sequences)

    def _load(self, index: int) -> dict[str, np.ndarray]:
        seq = self.sequences[index]
        try:
            return read_sequence(seq.path, self.modalities)
        except PretreatedFormatError as e:
            raise PretreatedFormatError(f"{e} (set data_cfg.data_in_use to the files every "
                                        "sequence has)") from None

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
        first = self.modalities[0]
        return [(seq.path / f"{first}.pkl").stat().st_size for seq in self.sequences]
