"""Training-step speed, training memory, data-loader and evaluation throughput.

1. Training step (forward, losses, backward, SGD step) of each model's shipped CASIA-B config,
   at a stated batch (default 1 id x 2 sequences x 30 frames of 64x44, random inputs), on CPU in
   fp32 and bf16 (autocast); on CUDA in fp16 when a GPU is present. Reports iterations/s and
   sequences/s (best of --steps after one warm-up step).
2. Training memory of each shipped config at its own batch: on CUDA measured
   (torch.cuda.max_memory_allocated); on CPU estimated from the activations saved for backward
   (counted at the stated batch, scaled linearly to the config's P x K x 30 frames, halved for
   FP16) plus fp32 weights, gradients, momentum and fp16 weight copies -- see
   opengait/opengait/engine/memory.py.
3. Data loader: sequences/s of the synthetic config's training loader with and without the
   in-memory cache (needs `make demo` data or --data).
4. Evaluation: time to rank N probe x M gallery part embeddings (256 x 16).

    python benchmarks/bench_train_step.py                 # ~15 minutes on 2 CPU cores (bf16 is slow there)
    python benchmarks/bench_train_step.py --quick         # smaller batch, 1 step
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gaitcore.atomic_files import atomic_write_report
from gaitcore.cli import run_script
from opengait.config import load_config
from opengait.data.dataset import GaitDataset
from opengait.data.loader import training_loader
from opengait.engine.inference import to_device
from opengait.engine.memory import (activation_bytes, cuda_peak_bytes, fp16_training_estimate, measure_step,
                                    random_batch, select_inputs, sgd_step)
from opengait.engine.optim import build_optimizer
from opengait.evaluation.distance import pairwise_distance, topk_indices
from opengait.modeling.losses import LossAggregator
from opengait.modeling.registry import build_model, model_inputs

REPO = Path(__file__).resolve().parents[1]
MODEL_CONFIGS = {
    "GaitBase": "opengait/configs/gaitbase/gaitbase_casia_b.yaml",
    "SkeletonGaitPP": "opengait/configs/skeletongait/skeletongait++_casia_b.yaml",
    "HybridGait": "opengait/configs/hybridgait/hybridgait_casia_b.yaml",
}
GIB = 2 ** 30


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODEL_CONFIGS), help="comma-separated model names")
    p.add_argument("--batch", default="1x2", help="P x K sequences for the timed step (default 1x2)")
    p.add_argument("--frames", type=int, default=30, help="frames per sequence (default 30)")
    p.add_argument("--steps", type=int, default=3,
                   help="timed fp32/fp16 steps after a warm-up, best taken (default 3)")
    p.add_argument("--bf16-steps", type=int, default=1,
                   help="timed bf16 steps (slow on CPUs without bf16 units; default 1)")
    p.add_argument("--precisions", default="fp32,bf16", help="CPU precisions (default fp32,bf16)")
    p.add_argument("--checkpoint-stages", default="1,2,3,4",
                   help="stages checkpointed in the 'checkpointing' rows (default 1,2,3,4; '' for none)")
    p.add_argument("--channels-last", action="store_true",
                   help="build every model with model_cfg.channels_last: true (compare with a run without)")
    p.add_argument("--no-measure", action="store_true",
                   help="skip the fresh-process peak-memory measurements (they take a few minutes)")
    p.add_argument("--data", default=str(REPO / "output/demo/casia_b_work"),
                   help="preprocessed synthetic work folder for the loader test")
    p.add_argument("--eval-size", type=int, default=5000, help="probes = gallery = N (default 5000)")
    p.add_argument("--quick", action="store_true",
                   help="1x2 sequences x 10 frames, 1 step, N 1000, no fresh-process memory measurement")
    p.add_argument("--out", default=str(REPO / "benchmarks/results/train_step.md"),
                   help="markdown result (a .json is written next to it)")
    return p.parse_args(argv)


def time_steps(model, losses, optimizer, batch, steps: int, autocast) -> float:
    def step():
        sgd_step(model, losses, optimizer, batch, autocast)
    step()  # warm-up
    best = float("inf")
    for _ in range(steps):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def bench_model(name: str, args: argparse.Namespace, p: int, k: int) -> dict:
    cfg = load_config(REPO / MODEL_CONFIGS[name], phase="train")
    batch = select_inputs(random_batch(p, k, args.frames), cfg.data)
    # the plain model: the shipped configs checkpoint, the plain rows must not
    layout = {"channels_last": args.channels_last}
    model = build_model({**cfg.model, "checkpoint_stages": [], **layout}, 74)
    n_params = sum(q.numel() for q in model.parameters())
    losses = LossAggregator(cfg.losses)
    optimizer = build_optimizer(model, cfg.optimizer)
    row = {"model": name, "config": MODEL_CONFIGS[name], "parameters": n_params,
           "timed_batch": f"{p}x{k}x{args.frames}", "steps": {}}
    if torch.cuda.is_available():
        model.cuda()
        gpu = to_device(batch, "cuda")
        seconds = time_steps(model, losses, optimizer, gpu, args.steps,
                             lambda: torch.autocast("cuda", torch.float16))
        row["steps"]["fp16 (cuda)"] = seconds
        model.cpu()
    for precision in args.precisions.split(","):
        if precision == "fp32":
            autocast = lambda: torch.autocast("cpu", enabled=False)  # noqa: E731
        else:
            autocast = lambda: torch.autocast("cpu", torch.bfloat16)  # noqa: E731
        steps = args.steps if precision == "fp32" else args.bf16_steps
        row["steps"][f"{precision} (cpu)"] = time_steps(model, losses, optimizer, batch, steps, autocast)
    if args.checkpoint_stages:
        stages = [int(s) for s in args.checkpoint_stages.split(",")]
        ckpt = build_model({**cfg.model, "checkpoint_stages": stages, **layout}, 74)
        ckpt.load_state_dict(model.state_dict())
        ckpt_opt = build_optimizer(ckpt, cfg.optimizer)
        # plain and checkpointed alternately, best of each: the ratio is not skewed by load
        plain_s, ckpt_s = float("inf"), float("inf")
        for _ in range(args.steps):
            plain_s = min(plain_s, time_steps(model, losses, optimizer, batch, 1, lambda: torch.autocast("cpu", enabled=False)))
            ckpt_s = min(ckpt_s, time_steps(ckpt, losses, ckpt_opt, batch, 1, lambda: torch.autocast("cpu", enabled=False)))
        row["checkpointing"] = {"stages": stages, "fp32_plain_s": plain_s, "fp32_checkpointed_s": ckpt_s}
        if not args.no_measure:
            override = f"model_cfg.checkpoint_stages=[{','.join(map(str, stages))}]"
            extra = ["model_cfg.channels_last=true"] if args.channels_last else []
            for key, overrides in (("plain", ["model_cfg.checkpoint_stages=[]"]), ("checkpointed", [override])):
                r = measure_step(REPO / MODEL_CONFIGS[name], p, k, args.frames, overrides + extra,
                                 threads=torch.get_num_threads())
                row["checkpointing"][f"{key}_measured_bytes"] = r["measured_bytes"]
                row["checkpointing"][f"{key}_estimate_bytes"] = r["estimate_bytes"]
    # Memory of the shipped config at its own batch (estimated from saved activations on CPU).
    cp, ck = cfg.trainer.sampler["batch_size"]
    frames = cfg.trainer.sampler["frames_num_fixed"]
    per_seq_frame = activation_bytes(model, losses, batch) / (p * k * args.frames)
    row["config_batch"] = f"{cp}x{ck}x{frames}"
    row["fp16_train_gib_estimate"] = fp16_training_estimate(int(per_seq_frame * cp * ck * frames), n_params) / GIB
    if torch.cuda.is_available():
        full = select_inputs(random_batch(cp, ck, frames), cfg.data)
        model.cuda()
        gpu = to_device(full, "cuda")
        gpu_optimizer = build_optimizer(model, cfg.optimizer)      # its state on the GPU too
        row["fp16_train_gib_cuda"] = cuda_peak_bytes(
            lambda: sgd_step(model, losses, gpu_optimizer, gpu, lambda: torch.autocast("cuda", torch.float16))) / GIB
    return row


def bench_loader(data: Path) -> dict | None:
    cfg_path = REPO / "opengait/configs/skeletongait/skeletongait++_synthetic.yaml"
    if not (data / "pretreated").is_dir():
        return None
    out = {}
    for cache in (False, True):
        cfg = load_config(cfg_path, [f"data_cfg.dataset_root={data / 'pretreated'}",
                                     f"data_cfg.dataset_partition={data / 'casia_b.json'}",
                                     f"data_cfg.cache={str(cache).lower()}"])
        start = time.perf_counter()
        dataset = GaitDataset(cfg.data, train=True, model_inputs=model_inputs(cfg.model))
        preload = time.perf_counter() - start
        loader = iter(training_loader(dataset, cfg.trainer, num_workers=0))
        next(loader)
        start, n = time.perf_counter(), 0
        for _ in range(40):
            n += len(next(loader)["labels"])
        out["cache" if cache else "no cache"] = {"sequences_per_s": n / (time.perf_counter() - start),
                                                 "preload_s": preload}
    return out


def bench_eval(n: int) -> dict:
    rng = np.random.default_rng(0)
    probe = rng.normal(size=(n, 256, 16)).astype(np.float32)
    gallery = rng.normal(size=(n, 256, 16)).astype(np.float32)
    start = time.perf_counter()
    topk_indices(probe, gallery, 20)
    top = time.perf_counter() - start
    start = time.perf_counter()
    pairwise_distance(probe, gallery)
    full = time.perf_counter() - start
    return {"n": n, "top20_s": top, "full_matrix_s": full}


def step_table(rows: list[dict], sequences: int, peak_key: str | None = None) -> list[str]:
    """Markdown rows: step time and sequences/s of each model and precision (and, with
    ``peak_key``, the peak memory in MiB each row holds under that key)."""
    memory = peak_key is not None
    lines = ["| model | parameters | precision | s / iteration | sequences / s |"
             + (" peak memory (MiB) |" if memory else ""), "| --- " * (6 if memory else 5) + "|"]
    for r in rows:
        for precision, seconds in r["steps"].items():
            lines.append(f"| {r['model']} | {r['parameters'] / 1e6:.2f} M | {precision} | {seconds:.2f} | "
                         f"{sequences / seconds:.2f} |" + (f" {r[peak_key]:.0f} |" if memory else ""))
    return lines


def memory_table(rows: list[dict]) -> list[str]:
    """Markdown rows: FP16 training memory of each shipped config (estimate; CUDA-measured if present)."""
    lines = ["| config | batch | saved-activation estimate, plain model (GiB) | measured on CUDA (GiB) |",
             "| --- | --- | --- | --- |"]
    for r in rows:
        cuda = f"{r['fp16_train_gib_cuda']:.2f}" if "fp16_train_gib_cuda" in r else "no GPU here"
        lines.append(f"| {r['config']} | {r['config_batch']} | {r['fp16_train_gib_estimate']:.2f} | {cuda} |")
    return lines


def apply_quick(args: argparse.Namespace) -> None:
    if args.quick:
        args.batch, args.frames, args.steps, args.bf16_steps, args.eval_size = "1x2", 10, 1, 1, 1000
        args.no_measure = True


def main(args: argparse.Namespace) -> int:
    apply_quick(args)
    p, k = (int(v) for v in args.batch.lower().split("x"))
    rows = [bench_model(name, args, p, k) for name in args.models.split(",")]
    loader = bench_loader(Path(args.data))
    evaluation = bench_eval(args.eval_size)
    lines = ["# Training step, memory, loader and evaluation speed", "", "```",
             "python benchmarks/bench_train_step.py " + " ".join(sys.argv[1:]), "```", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads; CUDA: {torch.cuda.is_available()}. CPU figures are "
             "not GPU figures.", "",
             f"Timed batch: {rows[0]['timed_batch']} (P x K x frames, 64x44), random inputs; best of "
             f"{args.steps} fp32 steps and {args.bf16_steps} bf16 step(s) after a warm-up.", "",
             *step_table(rows, p * k)]
    by_name = {r["model"]: r for r in rows}
    if "HybridGait" in by_name and "SkeletonGaitPP" in by_name:
        for precision in by_name["HybridGait"]["steps"]:
            ratio = by_name["HybridGait"]["steps"][precision] / by_name["SkeletonGaitPP"]["steps"][precision]
            lines.append(f"\nHybridGait / SkeletonGait++ step time, {precision}: {ratio:.2f}x "
                         "(same inputs, same run; target <= 1.25x).")
    ck = [r for r in rows if "checkpointing" in r]
    if ck:
        lines += ["", f"Activation checkpointing (`model_cfg.checkpoint_stages: [{args.checkpoint_stages}]`), "
                  f"fp32 on this CPU, batch {rows[0]['timed_batch']}. Step time: best of {args.steps} steps, "
                  "plain and checkpointed alternating. Peak memory: two steps in a fresh process (the second "
                  "with momentum), peak resident set minus the set before the model was built (weights, "
                  "inputs, activations, gradients, momentum); the estimate beside it counts the tensors autograd saves plus "
                  "inputs, weights, gradients and momentum.", "",
                  "| model | step plain (s) | step checkpointed (s) | time ratio | peak plain (GiB) | "
                  "peak checkpointed (GiB) | memory ratio | estimate plain / checkpointed (GiB) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in ck:
            c = r["checkpointing"]
            mem = ("| not measured | | | |" if "plain_measured_bytes" not in c else
                   f"| {c['plain_measured_bytes'] / GIB:.2f} | {c['checkpointed_measured_bytes'] / GIB:.2f} | "
                   f"{c['checkpointed_measured_bytes'] / c['plain_measured_bytes']:.2f}x | "
                   f"{c['plain_estimate_bytes'] / GIB:.2f} / {c['checkpointed_estimate_bytes'] / GIB:.2f} |")
            lines.append(f"| {r['model']} | {c['fp32_plain_s']:.2f} | {c['fp32_checkpointed_s']:.2f} | "
                         f"{c['fp32_checkpointed_s'] / c['fp32_plain_s']:.2f}x {mem}")
        by = {r["model"]: r["checkpointing"] for r in ck}
        if "HybridGait" in by and "SkeletonGaitPP" in by:
            lines.append("")
            lines.append("HybridGait / SkeletonGait++ step time with checkpointing: "
                         f"{by['HybridGait']['fp32_checkpointed_s'] / by['SkeletonGaitPP']['fp32_checkpointed_s']:.2f}x, "
                         f"without: {by['HybridGait']['fp32_plain_s'] / by['SkeletonGaitPP']['fp32_plain_s']:.2f}x.")
    lines += ["", "What the shipped configs' batches would need in FP16 *without* checkpointing, from the "
              "activations autograd saves (plus weights, gradients, momentum, fp16 copies); with "
              "checkpointing, `benchmarks/fit_batch.py` measures (results/fit_batch.md):", "", *memory_table(rows)]
    if loader:
        lines += ["", "Data loader (synthetic SkeletonGait++ config, 4 x 3 x 12 frames, one process):", "",
                  "| mode | sequences / s | preload (s) |", "| --- | --- | --- |"]
        for mode, v in loader.items():
            lines.append(f"| {mode} | {v['sequences_per_s']:.0f} | {v['preload_s']:.1f} |")
    lines += ["", f"Evaluation, {evaluation['n']} probes x {evaluation['n']} gallery (256 x 16 parts, "
              f"Euclidean, chunks of 2048): top-20 ranking {evaluation['top20_s']:.1f} s, full "
              f"distance matrix {evaluation['full_matrix_s']:.1f} s.", ""]
    atomic_write_report(args.out, lines, {"models": rows, "loader": loader, "evaluation": evaluation})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
