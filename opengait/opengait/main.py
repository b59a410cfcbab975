"""Train or test a gait model from an OpenGait-style YAML config.

One process, one device (CUDA if present, else CPU) -- no launcher needed:

    python opengait/opengait/main.py --cfgs opengait/configs/skeletongait/skeletongait++_synthetic.yaml --phase train
    python opengait/opengait/main.py --cfgs opengait/configs/skeletongait/skeletongait++_synthetic.yaml --phase test

Several GPUs (data parallel; the batch size in the config is per process):

    accelerate launch --num_processes 2 opengait/opengait/main.py --cfgs <yaml> --phase train

Outputs go to <output_root>/<dataset_name>/<model>/<save_name>/: checkpoints/, summary/
(TensorBoard), logs/ (with --log_to_file), eval/ (results JSON) and config.yaml (the merged
config of the run). Quick experiments: --set trainer_cfg.total_iter=200 (repeatable).
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed

from gaitcore.atomic_files import FolderLock, FolderLockedError
from gaitcore.cli import run_script
from gaitcore.errors import CheckpointError, UserInputError
from opengait.config import load_config, mixed_precision_mode
from opengait.engine.checkpoint import latest_checkpoint, model_from_checkpoint, resolve_restore
from opengait.engine.inference import evaluate
from opengait.evaluation.evaluators import Evaluation
from opengait.engine.run_logging import setup_text_log
from opengait.engine.trainer import train
from opengait.settings import Settings

log = logging.getLogger("opengait")


def parse_args(argv: list[str] | None = None, description: str = __doc__) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cfgs", required=True, help="experiment YAML (merged over opengait/configs/default.yaml)")
    p.add_argument("--phase", choices=("train", "test"), default="train",
                   help="train the model, or evaluate a checkpoint on the test set (default train)")
    p.add_argument("--log_to_file", action="store_true", help="also write the text log to <run>/logs/")
    p.add_argument("--iter", type=int, default=0,
                   help="checkpoint iteration to restore (sets trainer_cfg and evaluator_cfg restore_hint)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config key, e.g. --set trainer_cfg.total_iter=200")
    p.add_argument("--output_root", default="output", help="root of the run folders (default output)")
    p.add_argument("--overwrite", action="store_true",
                   help="train: start again although the run folder holds checkpoints; the old folder "
                        "is moved aside to <run folder>.replaced-<time>, not deleted (default: refuse, "
                        "and say how to resume)")
    return p.parse_args(argv)


def mixed_precision(section) -> str:
    """The section's precision (checked at load), fp32 where fp16 has no CUDA to run on."""
    mode = mixed_precision_mode(section)
    if mode == "fp16" and not torch.cuda.is_available():
        log.info("fp16 mixed precision needs CUDA; running in fp32 on the CPU")
        return "no"
    return mode


def make_accelerator(settings: Settings, section) -> Accelerator:
    """One process per device; on a CPU-only machine gloo data parallelism under torchrun.
    ``trainer_cfg.find_unused_parameters`` goes to DDP."""
    ddp = DistributedDataParallelKwargs(find_unused_parameters=settings.trainer.find_unused_parameters)
    return Accelerator(mixed_precision=mixed_precision(section), cpu=not torch.cuda.is_available(),
                       kwargs_handlers=[ddp])


def run_dir_of(settings: Settings, output_root: str, save_name: str) -> Path:
    return Path(output_root) / settings.data.dataset_name / settings.model["model"] / save_name


def lock_run(run_dir: Path) -> FolderLock:
    """One training at a time per run folder: a second one with the same save_name is refused,
    naming the holder (the lock sits beside the folder, so --overwrite can move the folder)."""
    try:
        return FolderLock(run_dir.parent / f".{run_dir.name}.lock").acquire()
    except FolderLockedError as e:
        raise UserInputError(f"{run_dir}: another training is writing into this run folder ({e}); wait for it, "
                             "or choose another trainer_cfg.save_name") from None


def check_fresh_run(settings: Settings, run_dir: Path, overwrite: bool) -> None:
    """A training run that does not resume must not write into a folder holding another run's
    checkpoints (their curves and checkpoints would mix): refuse, or with ``--overwrite`` move
    the old folder aside."""
    tcfg = settings.trainer
    if tcfg.restore_hint not in (0, None, "", "0"):
        return
    existing = latest_checkpoint(run_dir, tcfg.save_name)
    if existing is None:
        return
    if not overwrite:
        raise CheckpointError(f"{run_dir}: holds the checkpoints of an earlier run (newest {existing.name}); "
                              "resume it with --set trainer_cfg.restore_hint=latest, or start again with "
                              "--overwrite (the old folder is moved aside), or choose another trainer_cfg.save_name")
    aside = run_dir.with_name(f"{run_dir.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.rename(aside)
    log.warning("--overwrite: the earlier run moved to %s", aside)


def test(settings: Settings, accelerator: Accelerator, output_root: str) -> Evaluation:
    ecfg = settings.evaluator
    save_name = ecfg.save_name
    run_dir = run_dir_of(settings, output_root, save_name)
    path = resolve_restore(ecfg.restore_hint, run_dir, save_name) or latest_checkpoint(run_dir, save_name)
    if path is None:
        raise CheckpointError(f"{run_dir / 'checkpoints'}: no checkpoint to test (train first, or set "
                              "evaluator_cfg.restore_hint to an iteration or a path)")
    model, state = model_from_checkpoint(settings.model, path, ecfg.restore_ckpt_strict)
    model = accelerator.prepare(model)
    log.info("testing %s", path)
    return evaluate(settings, model, accelerator, run_dir, int(state["iteration"]))


def main(args: argparse.Namespace) -> int:
    settings = load_config(args.cfgs, args.set, restore_iter=args.iter, phase=args.phase)
    section = settings.trainer if args.phase == "train" else settings.evaluator
    logging.basicConfig(level=logging.INFO)
    accelerator = make_accelerator(settings, section)
    lock = None
    if args.phase == "train":
        run_dir = run_dir_of(settings, args.output_root, settings.trainer.save_name)
        if accelerator.is_main_process:
            lock = lock_run(run_dir)
            check_fresh_run(settings, run_dir, args.overwrite)
        accelerator.wait_for_everyone()
    else:
        run_dir = run_dir_of(settings, args.output_root, settings.evaluator.save_name)
    setup_text_log(run_dir, args.log_to_file, accelerator.is_main_process)
    set_seed(settings.trainer.seed + accelerator.process_index)
    log.info("%s on %s, %d process(es), mixed precision %s; run folder %s", args.phase,
             accelerator.device, accelerator.num_processes, accelerator.mixed_precision, run_dir)
    if args.phase == "train":
        train(settings, accelerator, run_dir)
        log.info("training done: %s", run_dir)
    else:
        result = test(settings, accelerator, args.output_root)
        if accelerator.is_main_process:
            print("results: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in result.metrics.items()))
            for line in result.coverage_lines() + [f"note: {n}" for n in result.notes]:
                print(line)
    accelerator.end_training()
    if lock is not None:
        lock.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
