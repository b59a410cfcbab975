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

import torch


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
