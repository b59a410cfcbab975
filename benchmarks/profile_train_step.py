"""Where a training step's time goes, at the study's settings: the profile behind the speed work.

For each model of the study (its synthetic config, its own batch and input size, random inputs
of every modality it reads), one fp32 CPU step -- forward, losses, backward, SGD step -- is
timed (median of --steps after a warm-up) and profiled with ``torch.profiler``. The self time of
the ATen operators is summed by kind:

- convolution (forward and backward), matrix products (``mm``/``bmm``/``addmm``: the separate
  FCs, the BNNecks, attention), normalisation (BatchNorm/LayerNorm, forward and backward),
  data movement (``copy_``, ``cat``, ``stack``, ``index``, ``gather`` ...: the copies in the
  separate FCs and horizontal pooling show up here), element-wise and activations, pooling and
  reductions (horizontal pooling, temporal max), and everything else (optimizer, autograd
  bookkeeping, small ops).

The step's floating-point operations are counted with ``torch.utils.flop_counter`` and divided by
the step time and by this machine's measured fp32 matrix-product rate: the share of the peak the
step reaches. A step far below that peak with most of its time in convolutions is bound by the
convolution kernels; one with a large data-movement or "other" share has overhead to remove.

    python benchmarks/profile_train_step.py                      # the six models, 1 thread
    python benchmarks/profile_train_step.py --models GaitBase --steps 5
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from gaitcore.atomic_files import atomic_write_report
from gaitcore.cli import run_script

REPO = Path(__file__).resolve().parents[1]
KINDS = ("convolution", "matrix product", "normalisation", "data movement", "element-wise",
         "pooling / reduction", "other")
MOVEMENT = ("copy_", "cat", "stack", "index", "gather", "scatter", "clone", "contiguous", "_to_copy",
            "flip", "roll", "repeat", "expand_as", "narrow_copy", "split_with_sizes_copy", "unbind_copy")
ELEMENTWISE = ("relu", "threshold_backward", "add", "sub", "mul", "div", "clamp", "leaky_relu", "sigmoid",
               "where", "neg", "exp", "log", "pow", "sqrt", "rsqrt", "abs", "softmax", "masked_fill",
               "gelu", "tanh", "reciprocal", "fill_", "zero_", "lerp", "addcmul", "addcdiv", "eq", "ne",
               "gt", "lt", "ge", "le", "logical", "bitwise", "sign")
REDUCTION = ("max", "min", "mean", "sum", "amax", "amin", "pool", "norm", "topk", "sort", "argmax",
             "argmin", "logsumexp", "std", "var", "cumsum")


def kind_of(op: str) -> str:
    """The kind of an ATen operator, by name (``aten::convolution_backward`` -> convolution)."""
    name = op.split("::", 1)[-1]
    if not op.startswith("aten::"):
        return "other"
    if "conv" in name:
        return "convolution"
    if name in ("mm", "bmm", "addmm", "matmul", "linear", "baddbmm", "addbmm", "_addmm_activation") \
            or name.startswith("_scaled_dot_product") or name.startswith("_flash_attention"):
        return "matrix product"
    if "batch_norm" in name or "layer_norm" in name or "group_norm" in name:
        return "normalisation"
    if any(name == m or name.startswith(m) for m in MOVEMENT):
        return "data movement"
    if any(name == m or name.startswith(m) for m in REDUCTION) or name.endswith("pool2d") \
            or name.endswith("pool3d"):
        return "pooling / reduction"
    if any(name == m or name.startswith(m) or name.rstrip("_") == m for m in ELEMENTWISE):
        return "element-wise"
    return "other"


def study_models() -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (config, --set overrides) of every distinct training step the study runs."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from study import design as d
    wanted = ("GaitBase", "DeepGaitV2", "SkeletonGait", "SkeletonGait++", "HybridGait", "GaitGraph2")
    return {n: (d.CASIA_MODELS[n].config, d.CASIA_MODELS[n].sets) for n in wanted}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    models = study_models()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(models), help="comma-separated study models (default all six)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per model after 3 warm-up steps (default 10)")
    p.add_argument("--profiled-steps", type=int, default=3, help="steps under the profiler (default 3)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", default=str(REPO / "benchmarks/results/train_step_profile.md"),
                   help="markdown result (a .json is written next to it)")
    args = p.parse_args(argv)
    args.model_list = args.models.split(",")
    unknown = [m for m in args.model_list if m not in models]
    if unknown or min(args.steps, args.profiled_steps, args.threads) < 1:
        p.error(f"--models: unknown {', '.join(unknown)} (known: {', '.join(models)})" if unknown
                else "--steps, --profiled-steps and --threads must be >= 1")
    args.models_cfg = models
    return args


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def profile_model(name: str, config: str, sets: tuple[str, ...], args: argparse.Namespace) -> dict:
    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    from opengait.config import load_config
    from opengait.data.transforms import build_transform
    from opengait.engine.memory import random_batch, select_inputs, sgd_step
    from opengait.engine.optim import build_optimizer
    from opengait.modeling.losses import LossAggregator
    from opengait.modeling.registry import build_model
    from gaitcore.pretreated_io import POSE
    cfg = load_config(REPO / config, list(sets), phase="train")
    sampler = cfg.trainer.sampler
    size_of = sampler["batch_size"]           # [P, K] for triplet samplers, N for CommonSampler
    p, k = size_of if isinstance(size_of, (list, tuple)) else (size_of, 1)
    frames = sampler.get("frames_num_fixed", 30)
    size = next((tuple(t["size"]) for t in cfg.trainer.transform
                 if isinstance(t, dict) and t.get("type") == "Resize"), (64, 44))
    torch.manual_seed(0)
    batch = select_inputs(random_batch(p, k, frames, size=size), cfg.data)
    if POSE in batch["inputs"]:     # keypoint transforms (e.g. GaitGraph2's multi-input) shape the input
        transform = build_transform(cfg.trainer.transform, "trainer_cfg.transform")
        rng = np.random.default_rng(0)
        batch["inputs"][POSE] = torch.stack([torch.as_tensor(transform({POSE: seq.numpy()}, rng)[POSE]).float()
                                             for seq in batch["inputs"][POSE]])
    model = build_model(cfg.model, 74)
    model.train()
    losses = LossAggregator(cfg.losses)
    optimizer = build_optimizer(model, cfg.optimizer)

    def step():
        sgd_step(model, losses, optimizer, batch)
    for _ in range(3):
        step()
    times = [_timed(step) for _ in range(args.steps)]
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.profiled_steps):
            step()
    by_kind = dict.fromkeys(KINDS, 0.0)
    top = []
    for event in prof.key_averages():
        by_kind[kind_of(event.key)] += event.self_cpu_time_total
        top.append((event.self_cpu_time_total, event.key))
    total = sum(by_kind.values())
    top.sort(reverse=True)
    return {"model": name, "config": config, "batch": f"{p}x{k}x{frames}", "input": f"{size[0]}x{size[1]}",
            "step_s": statistics.median(times), "step_s_min": min(times), "step_s_max": max(times),
            "flops_per_step": int(counter.get_total_flops()),
            "shares": {kind: v / total for kind, v in by_kind.items()},
            "top_ops": [{"op": op, "share": t / total} for t, op in top[:5]]}


def main(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm
    torch.set_num_threads(args.threads)
    from opengait_speed import measure_matmul         # the one matrix-product rate measurement
    rate = measure_matmul(argparse.Namespace(threads=args.threads))["flops_per_s"]
    rows = [profile_model(name, *args.models_cfg[name], args) for name in tqdm(args.model_list, desc="models")]
    lines = ["# Where a training step's time goes (the study's settings)", "", "```",
             "python benchmarks/profile_train_step.py " + " ".join(sys.argv[1:]), "```", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s), torch "
             f"{torch.__version__}; fp32 matrix-product rate measured {rate / 1e9:.1f} GFLOP/s. Each model's "
             f"synthetic config at its own batch, random inputs; step = forward, losses, backward, SGD step; "
             f"median of {args.steps} steps. Shares: self time of the ATen operators over "
             f"{args.profiled_steps} profiled steps.", "",
             "| model | batch (P x K x frames, input) | step (s) | GFLOP / step | share of the matrix-product rate | "
             + " | ".join(KINDS) + " |", "| --- " * (5 + len(KINDS)) + "|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['batch']}, {r['input']} | {r['step_s']:.3f} | "
                     f"{r['flops_per_step'] / 1e9:.1f} | {100 * r['flops_per_step'] / r['step_s'] / rate:.0f}% | "
                     + " | ".join(f"{100 * r['shares'][k]:.0f}%" for k in KINDS) + " |")
    lines += ["", "Largest operators by self time:", "", "| model | operators (share of the step) |", "| --- | --- |"]
    lines += [f"| {r['model']} | " + ", ".join(f"`{t['op']}` {100 * t['share']:.0f}%" for t in r["top_ops"]) + " |"
              for r in rows]
    atomic_write_report(args.out, lines, {"matmul_flops_per_s": rate, "threads": args.threads, "models": rows})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
