"""Batch samplers. Each batch carries its own random seed, derived from (seed, rank,
iteration), so frame sampling and augmentation give the same batch whatever the number of
DataLoader workers and after resuming from a checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from opengait.data.frame_sampling import batch_frame_count


@dataclass(frozen=True)
class SampleRequest:
    """What a worker needs to produce one sequence of a batch."""

    index: int                 # sequence index in the dataset
    seed: int | None           # random seed for frame sampling and augmentation (None: test)
    frame_count: int | None    # frames of an unfixed_* batch


class TripletSampler(torch.utils.data.Sampler):
    """Endless P x K batches: P different ids (never twice in a batch), K sequences each
    (without replacement when the id has K or more, with replacement otherwise).

    With several processes each rank draws its own batches (rank is part of the seed). With
    ``sampler_cfg["augmented_share"]`` (e.g. 0.25) and a set of ``augmented`` sequence indices
    (DLCR's repainted copies, the partition's AUGMENTED_SET), that share of each id's K sequences
    comes from its augmented sequences in expectation (K x share rounded up or down at random,
    so 3 x 0.25 gives one augmented sequence in 75% of the ids' draws, none in the rest) and
    the rest from the real ones (ids without augmented sequences are unchanged).
    ``batch_shuffle`` shuffles the order of the P x K sequences in the batch, as OpenGait's does.
    """

    def __init__(self, indices_by_label: dict[int, list[int]], batch_size: Sequence[int],
                 sampler_cfg: dict, seed: int = 0, rank: int = 0, start_iter: int = 0,
                 augmented: set[int] | None = None):
        # [P, K] is checked by load_config, P against the training ids by loader.check_training_data
        self.p, self.k = int(batch_size[0]), int(batch_size[1])
        self.labels = sorted(indices_by_label)
        share = sampler_cfg.get("augmented_share")          # its range is checked by load_config
        augmented = augmented or set()
        self.share = None if share is None else float(share)
        self.groups, self.augmented_groups = {}, {}
        for label in self.labels:
            indices = indices_by_label[label]
            real = [i for i in indices if i not in augmented]
            aug = [i for i in indices if i in augmented]
            if self.share is None or not aug:
                self.groups[label] = np.asarray(indices)
            else:
                self.groups[label] = np.asarray(real or aug)
                self.augmented_groups[label] = np.asarray(aug)
        self.sampler_cfg, self.seed, self.rank = sampler_cfg, seed, rank
        self.iteration = start_iter

    def batch(self, iteration: int) -> list[SampleRequest]:
        rng = np.random.default_rng([self.seed, self.rank, iteration])
        labels = rng.choice(self.labels, size=self.p, replace=False)
        count = batch_frame_count(self.sampler_cfg, rng)
        requests = []
        for label in labels:
            k_aug = 0
            if label in self.augmented_groups:     # K x share in expectation, not rounded per id
                whole, part = divmod(self.k * self.share, 1.0)
                k_aug = int(whole) + int(rng.random() < part)
            picks = []
            for group, k in ((self.groups[label], self.k - k_aug), (self.augmented_groups.get(label), k_aug)):
                if k > 0:
                    picks += rng.choice(group, size=k, replace=len(group) < k).tolist()
            requests += [SampleRequest(int(i), int(rng.integers(2 ** 31)), count) for i in picks]
        if self.sampler_cfg.get("batch_shuffle"):       # OpenGait: shuffle the order in the batch
            requests = [requests[i] for i in rng.permutation(len(requests))]
        return requests

    def __iter__(self) -> Iterator[list[SampleRequest]]:
        while True:
            yield self.batch(self.iteration)
            self.iteration += 1


class CommonSampler(torch.utils.data.Sampler):
    """Endless batches of ``batch_size`` sequences drawn at random regardless of id (OpenGait's
    ``CommonSampler``, for losses that find their positives in any batch, e.g. GaitGraph2's
    supervised contrastive loss): without replacement when the training set has that many
    sequences, with replacement otherwise. ``batch_size`` is per process, as for
    :class:`TripletSampler` (OpenGait splits one batch across its processes)."""

    def __init__(self, n_sequences: int, batch_size: int, sampler_cfg: dict, seed: int = 0,
                 rank: int = 0, start_iter: int = 0):
        self.n, self.size = n_sequences, batch_size
        self.sampler_cfg, self.seed, self.rank = sampler_cfg, seed, rank
        self.iteration = start_iter

    def batch(self, iteration: int) -> list[SampleRequest]:
        rng = np.random.default_rng([self.seed, self.rank, iteration])
        picks = rng.choice(self.n, size=self.size, replace=self.n < self.size)
        count = batch_frame_count(self.sampler_cfg, rng)
        return [SampleRequest(int(i), int(rng.integers(2 ** 31)), count) for i in picks]

    def __iter__(self) -> Iterator[list[SampleRequest]]:
        while True:
            yield self.batch(self.iteration)
            self.iteration += 1


TRAINING_SAMPLERS = ("TripletSampler", "CommonSampler")


def batch_sequences(sampler_cfg: dict) -> int:
    """Sequences in one training batch of one process: P x K, or a CommonSampler's count."""
    size = sampler_cfg["batch_size"]
    return int(size) if sampler_cfg.get("type", "TripletSampler") == "CommonSampler" else int(size[0]) * int(size[1])


class InferenceSampler(torch.utils.data.Sampler):
    """Every sequence once, ``batch_size`` sequences per batch, grouped by length (so little
    padding is needed); with several processes each rank takes every world_size-th batch."""

    def __init__(self, length_hints: Sequence[int], batch_size: int, rank: int = 0,
                 world_size: int = 1):
        order = np.argsort(np.asarray(length_hints), kind="stable")
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        self.batches = batches[rank::world_size]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[SampleRequest]]:
        for batch in self.batches:
            yield [SampleRequest(int(i), None, None) for i in batch]
