"""The one attention function of the project: FlashAttention when it can run, PyTorch SDPA
otherwise (which itself picks flash / memory-efficient kernels on a GPU).

``flash_attn.flash_attn_func`` is used when the package is installed, the tensors are CUDA
fp16/bf16 and no key is masked (callers pass ``key_mask=None`` when every key of the batch is
valid); a masked batch goes through ``torch.nn.functional.scaled_dot_product_attention``, as
does everything on a CPU. flash-attn is an optional extra (requirements-gpu.txt); nothing needs
it. :data:`BACKEND_CALLS` counts the calls per backend, so a run can say which one ran.
"""
from __future__ import annotations

import importlib.util
from collections import Counter

import torch
import torch.nn.functional as F

_FLASH = None
BACKEND_CALLS: Counter = Counter()      # "flash_attn" / "sdpa" -> calls in this process


def flash_attn_available() -> bool:
    """Whether the flash-attn package is importable (checked once)."""
    global _FLASH
    if _FLASH is None:
        _FLASH = False
        if importlib.util.find_spec("flash_attn") is not None:
            try:
                _FLASH = callable(getattr(importlib.import_module("flash_attn"), "flash_attn_func", None))
            except Exception:  # an installed but broken build (wrong CUDA / torch)
                _FLASH = False
    return _FLASH


def flash_capable(q: torch.Tensor) -> bool:
    """FlashAttention can take these tensors: CUDA, fp16/bf16, and the package is there."""
    return q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) and flash_attn_available()


def attention_backend(q: torch.Tensor, key_mask: torch.Tensor | None = None) -> str:
    """``"flash_attn"`` or ``"sdpa"`` for these inputs."""
    return "flash_attn" if key_mask is None and flash_capable(q) else "sdpa"


def flash_attn_function():
    from flash_attn import flash_attn_func
    return flash_attn_func


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q kᵀ / √d) v for ``q`` (B, H, Lq, d), ``k``/``v`` (B, H, Lk, d).

    ``key_mask`` (B, Lk) bool marks the keys that may be attended to (False = masked out);
    a query whose keys are all masked gets zeros.
    """
    backend = attention_backend(q, key_mask)
    BACKEND_CALLS[backend] += 1
    if backend == "flash_attn":
        out = flash_attn_function()(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return out.transpose(1, 2)
    if key_mask is None:
        return F.scaled_dot_product_attention(q, k, v)
    usable = key_mask.any(dim=1)                                   # (B,) any key left?
    mask = key_mask | ~usable[:, None]                             # avoid all -inf rows (NaN)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
    return out * usable.view(-1, 1, 1, 1).to(out.dtype)
