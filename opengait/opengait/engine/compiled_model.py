"""``torch.compile`` for training (``trainer_cfg.compile``), testing (``evaluator_cfg.compile``)
and the identify tools (``--compile``).

Compilation happens on the first call, so its cost lands in the first step or batch; that time
is logged (``compile_seconds`` in the log, ``scalar/compile_seconds`` in TensorBoard), to weigh
against the run's length. Training batches have one shape (fixed frame counts), so training
compiles once; test batches vary in length, so the test model is compiled with dynamic shapes.
Checkpoints never carry the compiled wrapper: their keys are the model's own.
"""
from __future__ import annotations

import logging
import time

import torch

log = logging.getLogger(__name__)


def compile_model(model: torch.nn.Module, where: str, dynamic: bool | None = None) -> torch.nn.Module:
    """``torch.compile(model)``; the first call's time is logged by :class:`FirstCallTimer`."""
    log.info("%s: torch.compile on (the first %s compiles the model)", where,
             "step" if where.startswith("trainer") else "batch")
    return torch.compile(model, dynamic=dynamic)


class FirstCallTimer:
    """Times the first call of a compiled model (compilation + one step) and logs it once."""

    def __init__(self, enabled: bool, what: str):
        self.enabled, self.what, self.seconds = enabled, what, None
        self._start = None

    def __enter__(self):
        if self.enabled and self.seconds is None:
            self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self._start is not None and exc[0] is None:
            self.seconds = time.perf_counter() - self._start
            log.info("torch.compile: the first %s took %.1f s (compiling included)", self.what, self.seconds)
        self._start = None
        return False
