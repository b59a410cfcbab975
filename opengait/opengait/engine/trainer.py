"""The training loop: accumulate-free, one step per iteration, accelerate owns the device,
mixed precision and data parallelism (no hand-written AMP/DDP)."""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from tqdm import tqdm

from opengait.config import save_config
from opengait.data.dataset import GaitDataset
from opengait.data.loader import check_training_data, training_loader
from opengait.data.samplers import batch_sequences
from opengait.engine.checkpoint import (checkpoint_path, load_checkpoint, load_model_weights,
                                        resolve_restore, save_checkpoint, set_rng_state)
from opengait.engine.compiled_model import FirstCallTimer, compile_model
from opengait.engine.inference import evaluate, to_device
from opengait.engine.optim import build_optimizer, build_scheduler
from opengait.engine.run_logging import SummaryLogger
from opengait.modeling.attention import BACKEND_CALLS
from opengait.modeling.losses import LossAggregator
from opengait.modeling.registry import build_model, model_inputs
from opengait.settings import Settings

log = logging.getLogger("opengait")


def set_bn_eval(module: torch.nn.Module) -> None:
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        module.eval()


def parameter_digest(model: torch.nn.Module) -> torch.Tensor:
    """A cheap fingerprint of the weights (to check that data-parallel ranks agree)."""
    total = torch.zeros(2, dtype=torch.float64)
    for i, p in enumerate(model.parameters()):
        total[0] += p.detach().double().sum().cpu()
        total[1] += (p.detach().double().abs().sum() * (i + 1)).cpu()
    return total


def train(settings: Settings, accelerator: Accelerator, run_dir: Path) -> torch.nn.Module:
    tcfg = settings.trainer
    dataset = GaitDataset(settings.data, train=True, model_inputs=model_inputs(settings.model))
    check_training_data(dataset, tcfg)
    model = build_model(settings.model, len(dataset.ids))
    num_classes = getattr(model, "num_classes", len(dataset.ids))
    losses = LossAggregator(settings.losses)
    optimizer = build_optimizer(model, settings.optimizer)
    scheduler = build_scheduler(optimizer, settings.scheduler)
    start = 0
    restore = resolve_restore(tcfg.restore_hint, run_dir, tcfg.save_name)
    if restore is not None:
        state = load_checkpoint(restore, settings.model, tcfg.restore_ckpt_strict)
        load_model_weights(model, state, restore, tcfg.restore_ckpt_strict)
        if state["format"] == "opengait":      # OpenGait's weights: fine-tune from iteration 0
            log.info("starting from the weights of %s at iteration 0 with a new optimizer", restore)
        else:
            if not tcfg.optimizer_reset:
                optimizer.load_state_dict(state["optimizer"])
            if not tcfg.scheduler_reset and state["scheduler"] is not None:
                scheduler.load_state_dict(state["scheduler"])
                if tcfg.optimizer_reset:     # the new optimizer starts at the schedule's rate
                    for group, lr in zip(optimizer.param_groups, scheduler.get_last_lr()):
                        group["lr"] = lr
            start = state["iteration"]
            set_rng_state(state["rng"])
            log.info("resumed from %s at iteration %d", restore, start)
    if tcfg.sync_BN and accelerator.num_processes > 1:
        if accelerator.device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            log.info("sync_BN: SyncBatchNorm needs GPUs; BatchNorm statistics stay per process")
    model, optimizer = accelerator.prepare(model, optimizer)
    if tcfg.compile:
        model = compile_model(model, "trainer_cfg.compile")
    first_step = FirstCallTimer(tcfg.compile, "training step")
    if restore is not None and state.get("scaler") is not None and accelerator.scaler is not None:
        accelerator.scaler.load_state_dict(state["scaler"])
    total = tcfg.total_iter
    if start >= total:
        log.info("already trained to iteration %d (total_iter %d): nothing to do", start, total)
        return model
    loader = training_loader(dataset, tcfg, settings.data.num_workers,
                             accelerator.process_index, start)
    if accelerator.is_main_process:
        save_config(settings, run_dir / "config.yaml")
    summary = SummaryLogger(run_dir, accelerator.is_main_process)
    batch_size = batch_sequences(tcfg.sampler) * accelerator.num_processes
    skipped, window_start, window_iters = 0, time.perf_counter(), 0
    bar = tqdm(total=total, initial=start, desc="train", unit="it",
               disable=not accelerator.is_local_main_process, dynamic_ncols=True)
    model.train()
    for iteration, batch in zip(range(start + 1, total + 1), loader):
        if tcfg.fix_BN:
            model.apply(set_bn_eval)
        batch = to_device(batch, accelerator.device)
        with first_step:
            with accelerator.autocast():
                out = model(batch["inputs"], batch["lengths"], batch["frames"], batch["labels"])
                loss, info = losses(out["training_feat"])
            # (one device sync per step; with an fp16 grad scaler, which skips non-finite steps
            # itself, there is no check and no sync)
            if accelerator.scaler is None and not torch.isfinite(loss):
                raise FloatingPointError(f"iteration {iteration}: loss is {loss.item()}; "
                                         + nonfinite_cause(batch, dataset))
            grad_norm, was_skipped = apply_gradients(accelerator, model, optimizer, scheduler, loss,
                                                     float(tcfg.grad_clip or 0.0))
        if iteration == start + 1 and first_step.seconds is not None:
            summary.scalars({"scalar/compile_seconds": first_step.seconds}, iteration)
            window_start, window_iters = time.perf_counter(), -1    # s/it leaves the compiling step out
        skipped += was_skipped
        bar.update()
        window_iters += 1
        if iteration % tcfg.log_iter == 0 or iteration == total:   # (loss.item() syncs: only here)
            loss_value = loss.item()
            bar.set_postfix(loss=f"{loss_value:.3f}")
            seconds = (time.perf_counter() - window_start) / max(window_iters, 1)
            window_start, window_iters = time.perf_counter(), 0
            scalars = {**info, "scalar/learning_rate": optimizer.param_groups[0]["lr"],
                       "scalar/iteration_time": seconds, "scalar/sequences_per_second": batch_size / seconds,
                       "scalar/skipped_steps": skipped, **out.get("log_scalars", {}),
                       **({"scalar/grad_norm": grad_norm} if math.isfinite(grad_norm) else {})}
            summary.scalars(scalars, iteration)
            log.info("iteration %d/%d: loss %.4f, %s, lr %.2e, %.2f s/it",
                     iteration, total, loss_value, ", ".join(
                         f"{k.removeprefix('scalar/')} {float(v):.4f}" for k, v in info.items()),
                     optimizer.param_groups[0]["lr"], seconds)
        if tcfg.image_log_iter and iteration % tcfg.image_log_iter == 0:
            for name, frames in out.get("visual_summary", {}).items():
                summary.images(name, frames, iteration)
        if iteration % tcfg.save_iter == 0 or iteration == total:
            save(settings, accelerator, model, optimizer, scheduler, run_dir, iteration, num_classes)
            if tcfg.with_test:
                evaluate(settings, model, accelerator, run_dir, iteration, summary)
                model.train()
    bar.close()
    if skipped:
        log.warning("%d optimizer steps were skipped (fp16 overflow; the scaler lowered its scale; "
                    "the learning-rate schedule waited for them)", skipped)
    calls = {k: v for k, v in BACKEND_CALLS.items() if v}
    if calls:
        log.info("attention backend calls in this run: %s", ", ".join(f"{k} {v}" for k, v in sorted(calls.items())))
    summary.close()
    return model


def nonfinite_cause(batch: dict, dataset) -> str:
    """Why a loss became NaN/inf: bad values in the batch (named by modality and sequence),
    or, with a finite batch, a training that diverged."""
    bad = {}
    for name, tensor in batch["inputs"].items():
        if tensor.is_floating_point():
            rows = (~torch.isfinite(tensor.reshape(len(tensor), -1))).any(1)
            if rows.any():
                bad[name] = [dataset.sequences[int(i)].key for i in batch["indices"][rows.cpu()]]
    if bad:
        where = "; ".join(f"{name} of {', '.join(keys[:3])}" for name, keys in bad.items())
        return (f"the batch holds NaN/inf input values ({where}): the data is bad, not the learning "
                "rate (datasets_preprocess/validate_pretreated.py finds such files)")
    return ("the batch's inputs are finite, so the training diverged: lower optimizer_cfg.lr, set "
            "trainer_cfg.grad_clip or scheduler_cfg.warmup_iters")


def apply_gradients(accelerator: Accelerator, model: torch.nn.Module, optimizer, scheduler,
                    loss: torch.Tensor, clip: float) -> tuple[float, bool]:
    """Backward, optional clipping, optimizer step; the scheduler steps only when the optimizer
    really stepped (an fp16 step skipped by the grad scaler does not advance the schedule, as in
    OpenGait). Returns (gradient norm before clipping, or NaN when not measured; skipped)."""
    optimizer.zero_grad(set_to_none=True)
    accelerator.backward(loss)
    grad_norm = float("nan")
    if clip > 0 and accelerator.sync_gradients:
        grad_norm = float(accelerator.clip_grad_norm_(model.parameters(), clip))
    optimizer.step()
    skipped = bool(accelerator.optimizer_step_was_skipped)
    if not skipped:
        scheduler.step()
    return grad_norm, skipped


def save(settings: Settings, accelerator: Accelerator, model, optimizer, scheduler, run_dir: Path,
         iteration: int, num_classes: int) -> None:
    if accelerator.num_processes > 1:
        digests = accelerator.gather(parameter_digest(accelerator.unwrap_model(model, keep_torch_compile=False)).to(accelerator.device)[None])
        if not torch.allclose(digests, digests[:1].expand_as(digests), rtol=1e-9, atol=0):
            raise RuntimeError(f"iteration {iteration}: model parameters differ between processes")
        log.info("iteration %d: parameters identical on %d processes", iteration, accelerator.num_processes)
    if accelerator.is_main_process:
        path = checkpoint_path(run_dir, settings.trainer.save_name, iteration)
        save_checkpoint(path, accelerator.unwrap_model(model, keep_torch_compile=False), optimizer, scheduler,
                        accelerator.scaler, iteration, num_classes, settings.as_dict())
        log.info("saved %s", path)
    accelerator.wait_for_everyone()
