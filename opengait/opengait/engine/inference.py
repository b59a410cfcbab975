"""Test-time features and evaluation.

Sequences are batched without mixing (zero-padded to a common length; the models ignore the
padding), any number per batch on one device; each embedding goes to CPU memory as soon as
its batch is done. With several processes each takes a share and the main process evaluates.
"""
from __future__ import annotations

import json
import logging
import weakref
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from tqdm import tqdm

from gaitcore.atomic_files import atomic_write_text
from opengait.data.dataset import GaitDataset
from opengait.data.loader import inference_loader
from opengait.engine.compiled_model import FirstCallTimer, compile_model
from opengait.engine.run_logging import SummaryLogger
from opengait.evaluation.evaluators import Evaluation, get_evaluator, log_evaluation, preflight_evaluation
from opengait.modeling.registry import model_inputs
from opengait.settings import Settings

log = logging.getLogger(__name__)


def metric_tags(metrics: dict) -> dict:
    """TensorBoard names: ``test_accuracy/<name>``, or the name itself when it has a ``/``."""
    return {(k if "/" in k else f"test_accuracy/{k}"): v for k, v in metrics.items()}


def to_device(batch: dict, device) -> dict:
    """The batch's tensors (and those of its ``inputs`` mapping) on ``device``; other values as
    they are."""
    def move(v):
        return v.to(device, non_blocking=True) if torch.is_tensor(v) else v
    return {k: ({n: move(t) for n, t in v.items()} if isinstance(v, dict) else move(v))
            for k, v in batch.items()}


_COMPILED: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def test_model(model: torch.nn.Module, compile: bool) -> torch.nn.Module:
    """The model to extract features with: compiled once per model (dynamic shapes: test
    batches vary in length) under ``evaluator_cfg.compile``, else the plain module."""
    if not compile:
        return model
    if model not in _COMPILED:
        _COMPILED[model] = compile_model(model, "evaluator_cfg.compile", dynamic=True)
    return _COMPILED[model]


@torch.no_grad()
def extract_features(model: torch.nn.Module, loader, accelerator: Accelerator,
                     compile: bool = False) -> dict[int, np.ndarray]:
    """``{dataset index: embedding (C, P) float32}`` for every sequence (on every process)."""
    was_training = model.training
    model.eval()
    net = test_model(model, compile)
    first_batch = FirstCallTimer(compile, "test batch")
    features: dict[int, np.ndarray] = {}
    for batch in tqdm(loader, desc="features", unit="batch", disable=not accelerator.is_local_main_process):
        batch = to_device(batch, accelerator.device)
        with first_batch, accelerator.autocast():
            out = net(batch["inputs"], batch["lengths"], batch["frames"])
        embeddings = out["inference_feat"]["embeddings"].float().cpu().numpy()
        for index, embedding in zip(batch["indices"].tolist(), embeddings):
            features[index] = embedding
    model.train(was_training)
    if accelerator.num_processes > 1:
        merged: dict[int, np.ndarray] = {}
        for part in gather_object([features]):
            merged.update(part)
        features = merged
    return features


def evaluate(settings: Settings, model: torch.nn.Module, accelerator: Accelerator, run_dir: Path,
             iteration: int, summary: SummaryLogger | None = None) -> Evaluation:
    """Features of the TEST_SET, then the configured protocol; returns its Evaluation (metrics,
    probes evaluated / expected, notes) and writes it to ``<run>/eval/<iteration>.json`` (one row
    per probe in ``eval/probes/<iteration>.json`` where the protocol scores probes one by one) and to
    TensorBoard (through ``summary``, the training's writer, when testing during training)."""
    evaluator_cfg = settings.evaluator
    evaluator = get_evaluator(evaluator_cfg.eval_func)
    dataset = GaitDataset(settings.data, train=False, model_inputs=model_inputs(settings.model))
    preflight_evaluation(evaluator_cfg.eval_func, dataset, settings)
    loader = inference_loader(dataset, evaluator_cfg, settings.data.num_workers,
                              accelerator.process_index, accelerator.num_processes)
    features = extract_features(accelerator.unwrap_model(model, keep_torch_compile=False), loader, accelerator,
                                evaluator_cfg.compile)
    result = Evaluation({})
    if accelerator.is_main_process:
        stacked = np.stack([features[i] for i in range(len(dataset))])
        result = evaluator(stacked, dataset, settings, run_dir)
        log_evaluation(evaluator_cfg.eval_func, result)
        record = {"iteration": iteration, "eval_func": evaluator_cfg.eval_func,
                  "metric": evaluator_cfg.metric, "sequences": len(dataset),
                  "results": {k: float(v) for k, v in result.metrics.items()},
                  "coverage": {k: {"evaluated": d, "expected": e} for k, (d, e) in result.coverage.items()},
                  "notes": result.notes}
        atomic_write_text(Path(run_dir) / "eval" / f"{iteration:05d}.json", json.dumps(record, indent=1) + "\n")
        if result.probes:                # every probe's own score, for breakdowns (e.g. by garment)
            atomic_write_text(Path(run_dir) / "eval" / "probes" / f"{iteration:05d}.json",
                              json.dumps(result.probes, separators=(",", ":")) + "\n")
        writer = summary or SummaryLogger(run_dir, True)
        writer.scalars(metric_tags(result.metrics), iteration)
        writer.flush() if summary else writer.close()
    accelerator.wait_for_everyone()
    return result
