"""From sample requests to model-ready batches: frame sampling, transforms, padding."""
from __future__ import annotations

import numpy as np
import torch

from opengait.data.dataset import GaitDataset
from opengait.data.frame_sampling import sample_frames
from opengait.data.samplers import CommonSampler, InferenceSampler, SampleRequest, TripletSampler
from gaitcore.errors import ConfigError
from opengait.data.transforms import build_transform
from opengait.settings import EvaluatorSettings, TrainerSettings


class SampledSequences(torch.utils.data.Dataset):
    """Loads the requested sequence, picks its frames and transforms it (in the worker)."""

    def __init__(self, dataset: GaitDataset, sampler_cfg: dict, transform_cfg, where: str):
        self.dataset, self.sampler_cfg = dataset, sampler_cfg
        self.transform = build_transform(transform_cfg, where)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, request: SampleRequest) -> dict:
        item = self.dataset[request.index]
        data = item["data"]
        n_frames = len(next(iter(data.values())))
        rng = np.random.default_rng(request.seed if request.seed is not None else request.index)
        frames = sample_frames(n_frames, self.sampler_cfg, rng, request.frame_count)
        data = self.transform({name: array[frames] for name, array in data.items()}, rng)
        return {"data": data, "frames": frames, "index": request.index,
                "label": self.dataset.labels[request.index]}


def collate_sequences(items: list[dict]) -> dict:
    """Stack sequences into (B, T, ...) tensors, zero-padding shorter ones; ``lengths`` (B,)
    and ``frames`` (B, T: original frame index, -1 on padding) say what is real."""
    lengths = torch.tensor([len(it["frames"]) for it in items], dtype=torch.long)
    t_max = int(lengths.max())
    inputs = {}
    for name in items[0]["data"]:
        arrays = [np.asarray(it["data"][name]) for it in items]
        batch = np.zeros((len(items), t_max) + arrays[0].shape[1:], np.float32)
        for b, a in enumerate(arrays):
            batch[b, :len(a)] = a
        inputs[name] = torch.from_numpy(batch)
    frames = torch.full((len(items), t_max), -1, dtype=torch.long)
    for b, it in enumerate(items):
        frames[b, :len(it["frames"])] = torch.as_tensor(it["frames"])
    return {"inputs": inputs, "lengths": lengths, "frames": frames,
            "labels": torch.tensor([it["label"] for it in items], dtype=torch.long),
            "indices": torch.tensor([it["index"] for it in items], dtype=torch.long)}


def _worker_init(_):
    import cv2
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def check_frame_counts(dataset: GaitDataset, sampler_cfg: dict, where: str) -> None:
    """A sampled window may repeat a short sequence end to end, but not without bound: the
    frames asked per sequence (frames_num_fixed, frames_num_max) must stay within
    max(720, 4 x the longest sequence's frames), or the batch alone can fill the memory."""
    kind = sampler_cfg["sample_type"]
    if kind == "all_ordered" or not dataset.frame_counts:
        return
    key = "frames_num_fixed" if kind.startswith("fixed") else "frames_num_max"
    asked, longest = int(sampler_cfg[key]), max(dataset.frame_counts)
    limit = max(720, 4 * longest)
    if asked > limit:
        raise ConfigError(f"{where}.sampler.{key}: {asked} frames per sequence, but the longest sequence has "
                          f"{longest}: more than {limit} (max(720, 4 x {longest})) only repeats frames and would "
                          "fill the memory")


def augmented_indices(dataset: GaitDataset) -> set[int]:
    """Indices of the training sequences the partition lists in AUGMENTED_SET (DLCR's copies)."""
    listed = set(dataset.partition.get("AUGMENTED_SET") or [])
    return {i for i, seq in enumerate(dataset.sequences) if seq.key in listed}


def check_training_data(dataset: GaitDataset, trainer: TrainerSettings) -> None:
    """The checks of the sampler settings that need the training set (load_config has checked
    the rest): the frames asked per sequence, augmented_share against the AUGMENTED_SET, and P
    ids per batch against the training ids. The trainer runs them as soon as the set is read,
    before a model is built or a checkpoint restored."""
    sampler_cfg = trainer.sampler
    check_frame_counts(dataset, sampler_cfg, "trainer_cfg")
    if sampler_cfg.get("augmented_share") is not None and not augmented_indices(dataset):
        raise ConfigError("trainer_cfg.sampler.augmented_share is set but the partition lists no "
                          "AUGMENTED_SET sequences of the training ids (make it with "
                          "datasets_preprocess/ccvid_aug/make_probe_gallery.py)")
    if sampler_cfg.get("type", "TripletSampler") != "CommonSampler":
        ids, p = len(dataset.indices_by_label()), int(sampler_cfg["batch_size"][0])
        if p > ids:
            raise ConfigError(f"trainer_cfg.sampler.batch_size: P = {p} ids per batch but the "
                              f"training set has only {ids} ids")


def training_loader(dataset: GaitDataset, trainer: TrainerSettings, num_workers: int, rank: int = 0,
                    start_iter: int = 0) -> torch.utils.data.DataLoader:
    """The training batches (the set passed :func:`check_training_data`)."""
    sampler_cfg = trainer.sampler
    augmented = augmented_indices(dataset)
    if sampler_cfg.get("type", "TripletSampler") == "CommonSampler":
        sampler = CommonSampler(len(dataset), sampler_cfg["batch_size"], sampler_cfg,
                                seed=trainer.seed, rank=rank, start_iter=start_iter)
    else:
        sampler = TripletSampler(dataset.indices_by_label(), sampler_cfg["batch_size"], sampler_cfg,
                                 seed=trainer.seed, rank=rank, start_iter=start_iter,
                                 augmented=augmented)
    data = SampledSequences(dataset, sampler_cfg, trainer.transform, "trainer_cfg.transform")
    return torch.utils.data.DataLoader(data, batch_sampler=sampler, num_workers=num_workers,
                                       collate_fn=collate_sequences, worker_init_fn=_worker_init,
                                       persistent_workers=num_workers > 0,
                                       prefetch_factor=2 if num_workers > 0 else None)


def inference_loader(dataset: GaitDataset, evaluator: EvaluatorSettings, num_workers: int, rank: int = 0,
                     world_size: int = 1) -> torch.utils.data.DataLoader:
    sampler_cfg = evaluator.sampler
    check_frame_counts(dataset, sampler_cfg, "evaluator_cfg")
    sampler = InferenceSampler(dataset.length_hints(), int(sampler_cfg["batch_size"]), rank,
                               world_size)
    data = SampledSequences(dataset, sampler_cfg, evaluator.transform,
                            "evaluator_cfg.transform")
    return torch.utils.data.DataLoader(data, batch_sampler=sampler, num_workers=num_workers,
                                       collate_fn=collate_sequences, worker_init_fn=_worker_init)
