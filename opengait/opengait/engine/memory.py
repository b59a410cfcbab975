"""Training memory, measured where it can be and estimated from saved activations elsewhere.

On CUDA, :func:`cuda_peak_bytes` runs one real training step and reads
``torch.cuda.max_memory_allocated``. On a CPU there is no allocator statistic, so
:func:`activation_bytes` counts the bytes of every tensor autograd saves for the backward pass
(unique storages, via ``saved_tensors_hooks``) during one forward pass and the loss -- the
activation memory of a step, which grows linearly with sequences x frames. An FP16 estimate
halves the activations (autocast saves half-precision copies for convolutions and matmuls) and
adds fp32 weights, gradients and SGD momentum plus fp16 weight copies.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import torch

from gaitcore.process_memory import peak_rss_bytes, reset_peak_rss, rss_bytes
from gaitcore.pretreated_io import HEATMAP, POSE, SILHOUETTE
from opengait.settings import DataSettings


def activation_bytes(model: torch.nn.Module, loss_fn, batch: dict) -> int:
    """Bytes of the distinct tensors saved for backward by one forward pass and the loss."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        try:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = max(seen.get(storage.data_ptr(), 0), storage.nbytes())
        except (RuntimeError, NotImplementedError):
            pass
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(batch["inputs"], batch.get("lengths"), batch.get("frames"), batch["labels"])
        loss, _ = loss_fn(out["training_feat"])
    del loss, out
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return sum(size for ptr, size in seen.items() if ptr not in params)


def fp16_training_estimate(activations_fp32: int, n_params: int) -> int:
    """Activations in half precision + fp32 weights, grads and momentum + fp16 weight copies."""
    return activations_fp32 // 2 + n_params * (4 + 4 + 4 + 2)


def cuda_peak_bytes(step) -> int:
    """Peak CUDA memory of ``step()`` (one training iteration)."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated())


# ---------------------------------------------------------------------------------------------
# Measured peak memory of one training step, each measurement in a fresh process.

def random_batch(p: int, k: int, frames: int, seed: int = 0, size=(64, 44)) -> dict:
    """A P x K batch of random inputs of every modality (silhouettes 0/1, two skeleton-map
    channels, COCO-17 keypoints with confidence 1), ``frames`` frames each."""
    g = torch.Generator().manual_seed(seed)
    n = p * k
    pose = torch.rand(n, frames, 17, 3, generator=g) * 100
    pose[..., 2] = 1.0
    return {"inputs": {HEATMAP: torch.rand(n, frames, 2, *size, generator=g),
                       SILHOUETTE: (torch.rand(n, frames, *size, generator=g) > 0.5).float(),
                       POSE: pose},
            "labels": torch.arange(p).repeat_interleave(k),
            "frames": torch.arange(frames).repeat(n, 1), "lengths": None}


def select_inputs(batch: dict, data: DataSettings) -> dict:
    """Keep the modalities the config's ``data_in_use`` selects."""
    use = data.data_in_use or [True, True, True]
    names = [n for n, on in zip((HEATMAP, SILHOUETTE, POSE), use) if on]
    return {**batch, "inputs": {n: batch["inputs"][n] for n in names}}


def sgd_step(model: torch.nn.Module, losses, optimizer, batch: dict, autocast=None) -> torch.Tensor:
    """One training step on a ready batch, as the trainer takes it without its bookkeeping:
    forward (under ``autocast()`` when given), the summed losses, backward, optimizer step.
    Returns the loss. The benchmarks time and profile this step."""
    with autocast() if autocast is not None else torch.autocast("cpu", enabled=False):
        out = model(batch["inputs"], batch["lengths"], batch["frames"], batch["labels"])
        loss, _ = losses(out["training_feat"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def measure_step_here(config: str, p: int, k: int, frames: int, overrides=(), device: str = "cpu",
                      num_classes: int = 74) -> dict:
    """Two training steps (forward, losses, backward, SGD step) of ``config`` at P x K x frames
    in *this* process, which should be fresh; the peak is that of a steady-state step (the second
    holds the momentum from the first). CPU: fp32, peak resident set minus the resident set
    before the model was built (so weights, inputs, activations, gradients and
    momentum count; the library's own memory does not). CUDA: fp16 autocast,
    ``torch.cuda.max_memory_allocated``. Also the saved-activation estimate for comparison."""
    from opengait.config import load_config
    from opengait.engine.inference import to_device
    from opengait.engine.optim import build_optimizer
    from opengait.modeling.losses import LossAggregator
    from opengait.modeling.registry import build_model

    cfg = load_config(config, list(overrides))
    before = rss_bytes()
    model = build_model(cfg.model, num_classes)
    losses = LossAggregator(cfg.losses)
    optimizer = build_optimizer(model, cfg.optimizer)
    batch = select_inputs(random_batch(p, k, frames), cfg.data)
    n_params = sum(q.numel() for q in model.parameters())
    cuda = device.startswith("cuda")
    if cuda:
        model.to(device)
        batch = to_device(batch, device)
        torch.cuda.reset_peak_memory_stats()
    model.train()
    reset_peak_rss()

    def step() -> float:
        start = time.perf_counter()
        sgd_step(model, losses, optimizer, batch, lambda: torch.autocast("cuda", torch.float16, enabled=cuda))
        return time.perf_counter() - start
    # Two steps: the first creates the momentum buffers, so the second is a steady-state step
    # (momentum, weights and the new gradients and activations all at once).
    step()
    seconds = step()
    if cuda:
        torch.cuda.synchronize()
        measured = int(torch.cuda.max_memory_allocated())
    else:
        measured = peak_rss_bytes() - before
    input_bytes = sum(t.numel() * t.element_size() for t in batch["inputs"].values())
    saved = activation_bytes(model, losses, batch)
    return {"config": str(config), "overrides": list(overrides), "batch": [p, k, frames],
            "device": device, "precision": "fp16" if cuda else "fp32", "parameters": n_params,
            "measured_bytes": measured, "step_seconds": seconds,
            # fp32: saved activations + inputs + weights, gradients and momentum
            "estimate_bytes": saved + input_bytes + n_params * 12}


def measure_step(config: str, p: int, k: int, frames: int, overrides=(), device: str = "cpu",
                 threads: int | None = None, timeout: float = 3600) -> dict:
    """:func:`measure_step_here` in a fresh Python process (``opengait/tools/measure_train_step.py``;
    the only way to read the peak resident set of one step on a CPU); returns its result."""
    cmd = [sys.executable, "-m", "opengait.tools.measure_train_step", "--cfgs", str(config), "--batch",
           f"{p}x{k}", "--frames", str(frames), "--device", device, *sum((["--set", o] for o in overrides), [])]
    env = dict(os.environ)
    # glibc otherwise keeps freed large blocks in its heap once its mmap threshold has grown,
    # and the resident set then counts memory the step no longer holds
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "131072")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory measurement of {config} at {p}x{k}x{frames} failed: {tail}")
    return json.loads(result.stdout.strip().splitlines()[-1])
