"""A dataset over a pretreated root and a partition JSON (OpenGait's ``data_cfg``, as
:class:`~opengait.settings.DataSettings`)."""
from __future__ import annotations

import logging
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gaitcore.pretreated_io import (PretreatedFormatError, SequenceRef,
                                    list_sequences, modality_layout,
                                    read_partition)
from gaitcore.errors import ConfigError
from opengait.settings import DataSettings

log = logging.getLogger(__name__)


class GaitDataset(torch.utils.data.Dataset):
    """Sequences of the TRAIN_SET (``train=True``) or TEST_SET ids, with the files chosen by
    ``data_in_use`` (booleans over the sorted .pkl files, or their positions, as OpenGait counts
    them); without it, the files holding ``model_inputs`` (the modalities the model reads), or
    every file when that is None. Roots written here or by OpenGait's scripts (``<view>.pkl``)
    both work: see :func:`gaitcore.pretreated_io.modality_layout`.

    An item is ``{"data": {modality: array}, "index": i}``; ``self.sequences[i]`` is its folder
    (a :class:`~gaitcore.pretreated_io.SequenceRef`) and ``self.labels[i]`` its training class.
    """

    def __init__(self, data: DataSettings, train: bool, model_inputs: tuple[str, ...] | None = None):
        root, partition = data.dataset_root, data.dataset_partition
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
            self.layout = modality_layout(refs[0], data.data_in_use, "data_cfg.data_in_use",
                                          wanted=model_inputs)
            for ref in refs:
                self.layout.check(ref)
        except PretreatedFormatError as e:
            raise ConfigError(f"{e} (run datasets_preprocess/validate_pretreated.py --root {root})") from None
        self.modalities = list(self.layout.names)
        self.ids = sorted({r.subject for r in refs})
        label_of = {s: i for i, s in enumerate(self.ids)}
        self.sequences: list[SequenceRef] = refs
        self.labels = [label_of[r.subject] for r in refs]     # training class of each sequence
        self.train = train
        self.max_failed_share = float(data.max_failed_share or 0.0)
        self.failed: set[int] = set()          # sequences that failed to read (this process)
        self.cache: dict[int, dict] | None = None
        if data.cache:
            self.cache = {i: self._load(i) for i in tqdm(range(len(self)), desc="cache", unit="seq")}
            self.frame_counts = [len(next(iter(self.cache[i].values()))) for i in range(len(self))]
        else:
            self.frame_counts = self.check_headers(root)

    def check_headers(self, root) -> list[int]:
        """Before training or testing starts, every sequence's files in use are opened and their
        headers checked (dtype, shape, equal frame counts, a file not cut short) without reading
        the array payloads: a bad file is a one-line error naming it, not a crash mid-run.
        Returns each sequence's frame count."""
        counts = []
        for seq in tqdm(self.sequences, desc="checking files", unit="seq", leave=False):
            try:
                arrays = self.layout.read(seq, headers_only=True)
            except (PretreatedFormatError, pickle.UnpicklingError, OSError) as e:
                raise ConfigError(f"{e} (datasets_preprocess/validate_pretreated.py --root {root} "
                                  "checks every file)") from None
            counts.append(len(next(iter(arrays.values()))))
        return counts

    def __len__(self) -> int:
        return len(self.sequences)

    def _load(self, index: int) -> dict[str, np.ndarray]:
        return self.layout.read(self.sequences[index])

    def __getitem__(self, index: int) -> dict:
        if self.cache is not None:
            return {"data": self.cache[index], "index": index}
        try:
            return {"data": self._load(index), "index": index}
        except (PretreatedFormatError, pickle.UnpicklingError, OSError) as e:
            if not self.train:              # a test sequence is never replaced by another
                raise
            return self._substitute(index, e)

    def _substitute(self, index: int, error: Exception) -> dict:
        """A sequence that passed the header check but fails to read (its values, a file
        changed since): skipped and counted, with another sequence of the same id in its place;
        fatal once more than ``data_cfg.max_failed_share`` of the sequences have failed."""
        self.failed.add(index)
        limit = self.max_failed_share * len(self.sequences)
        log.warning("skipped (%d failed so far): %s", len(self.failed), str(error).splitlines()[0])
        if len(self.failed) > limit:
            raise PretreatedFormatError(
                f"{len(self.failed)} of {len(self.sequences)} sequences failed to read, more than "
                f"data_cfg.max_failed_share {self.max_failed_share}; last: {str(error).splitlines()[0]}")
        label = self.labels[index]
        for other in self.indices_by_label()[label]:
            if other not in self.failed:
                try:
                    return {"data": self._load(other), "index": other}
                except (PretreatedFormatError, pickle.UnpicklingError, OSError):
                    self.failed.add(other)
        raise PretreatedFormatError(f"every sequence of id {self.sequences[index].subject} failed to read; "
                                    f"last: {str(error).splitlines()[0]}")

    def indices_by_label(self) -> dict[int, list[int]]:
        groups = defaultdict(list)
        for i, label in enumerate(self.labels):
            groups[label].append(i)
        return dict(groups)

    def length_hints(self) -> list[int]:
        """A number that grows with each sequence's frame count (its first file's size, read
        without unpickling), for grouping sequences of similar length into test batches."""
        first = self.layout.positions[0]
        return [(seq.path / seq.files[first]).stat().st_size for seq in self.sequences]
