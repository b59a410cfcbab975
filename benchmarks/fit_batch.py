"""The largest P x K training batch of a config that fits a memory budget, from measurement.

Every measurement is one real training step in a fresh process (`opengait.engine.memory`):

- **on a GPU** (`--device cuda`): FP16 autocast, `torch.cuda.max_memory_allocated`. P grows by
  doubling until the step no longer fits, then is bisected; the answer is a measured batch.
- **on a CPU** (no GPU here): fp32, the step's peak resident set. Memory is linear in P (the
  activations grow with the batch, weights, gradients and momentum do not), so two measured
  batches (the two largest of --points) give the intercept and the per-P slope; the GPU projection takes the activations at
  half size (FP16 autocast keeps half-precision copies) and adds the FP16 weight copies. That
  projection is stated as such; run the same command on the GPU to measure it.

    python benchmarks/fit_batch.py --cfgs opengait/configs/skeletongait/skeletongait++_casia_b.yaml --gib 8
    python benchmarks/fit_batch.py --cfgs A.yaml B.yaml --gib 8 --set "model_cfg.checkpoint_stages=[1,2,3,4]" --out table.md
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "opengait")]

from gaitcore.atomic_files import atomic_write_report  # noqa: E402
from gaitcore.cli import resolve_device_name, run_script  # noqa: E402
from gaitcore.errors import UserInputError
from opengait.config import load_config  # noqa: E402
from opengait.engine.memory import measure_step  # noqa: E402

GIB = 2 ** 30


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cfgs", required=True, nargs="+", help="experiment YAML(s)")
    p.add_argument("--gib", type=float, default=8.0, help="memory budget in GiB (default 8)")
    p.add_argument("--k", type=int, default=None,
                   help="sequences per id, K (default: the config's trainer_cfg.sampler.batch_size K)")
    p.add_argument("--frames", type=int, default=None,
                   help="frames per sequence (default: the config's frames_num_fixed)")
    p.add_argument("--device", default="auto", help="auto, cuda or cpu (default auto: cuda when present)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. model_cfg.checkpoint_stages=[1,2,3,4] (repeatable)")
    p.add_argument("--headroom", type=float, default=0.1,
                   help="share of the budget kept free for the CUDA allocator's fragmentation and "
                        "cuDNN workspaces (default 0.1: a batch must fit 90%% of --gib)")
    p.add_argument("--max-p", type=int, default=64, help="largest P tried (default 64)")
    p.add_argument("--points", default="auto",
                   help="CPU: the P values measured, e.g. 1,2,4; the line goes through the two largest. "
                        "auto (default): 1, 2 and 4 while P x K stays within max(16, 2K) sequences "
                        "(beyond that the line is straight and every point costs minutes)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of each measuring process (default: torch's own)")
    p.add_argument("--out", default=None,
                   help="write a markdown table here (and a .json next to it), e.g. "
                        "benchmarks/results/fit_batch.md")
    return p.parse_args(argv)


def cpu_projection(points: dict[int, dict], n_params: int, budget: float, max_p: int) -> dict:
    """A line through the two largest measured batches (fp32), projected to FP16.

    The peak of a step is the largest of several moments (the start of the backward pass, the
    recomputation of the first stage, ...), each growing with P at its own rate; at small P a
    moment with a large fixed part (e.g. GREW's 20,000-class BNNeck) can be the peak, at large P
    the one with the steepest growth. The two largest batches are the closest to the batches
    projected to, so their line is used; the slopes of the smaller segments are reported too."""
    ordered = sorted((p, r["measured_bytes"]) for p, r in points.items())
    if len(ordered) < 2:
        raise UserInputError("need two measured batches to draw a line")
    segments = [(m2 - m1) / (p2 - p1) for (p1, m1), (p2, m2) in zip(ordered, ordered[1:])]
    (p1, m1), (p2, m2) = ordered[-2:]
    slope = segments[-1]
    intercept = m2 - slope * p2
    if slope <= 0:
        raise UserInputError(f"memory did not grow from P {p1} to P {p2} ({m1} -> {m2} bytes); "
                             "the measurement is dominated by something else, cannot project")

    def fp16(p: int) -> float:    # activations at half size; + fp16 weight copies (2 B/param)
        return intercept + n_params * 2 + slope * p / 2
    fits = [p for p in range(1, max_p + 1) if fp16(p) <= budget]
    return {"slope_bytes_per_p_fp32": slope, "intercept_bytes_fp32": intercept,
            "segment_slopes_bytes_per_p": segments,
            "largest_p": max(fits) if fits else 0, "fp16_projection": fp16}


def measured_points(spec: str, k: int) -> list[int]:
    """The P values to measure on a CPU: ``auto`` or a comma-separated list (at least two)."""
    if spec == "auto":
        return [p for p in (1, 2, 4) if p <= 2 or p * k <= max(16, 2 * k)]
    try:
        points = sorted({int(v) for v in spec.split(",")})
    except ValueError:
        points = []
    if len(points) < 2 or points[0] < 1:
        raise UserInputError(f"--points {spec}: expected auto or two or more P values from 1, e.g. 1,2,4")
    return points


def fits_on_cuda(cfg: str, p: int, k: int, frames: int, args) -> tuple[bool, dict | None]:
    try:
        r = measure_step(cfg, p, k, frames, args.set, args.device, args.threads)
    except RuntimeError as e:
        if "out of memory" in str(e).lower():
            return False, None
        raise
    return r["measured_bytes"] <= args.gib * (1 - args.headroom) * GIB, r


def fit_config(path: str, args: argparse.Namespace) -> dict:
    """The largest P (at the config's or the given K) whose training step fits the budget."""
    if not Path(path).is_file():
        raise UserInputError(f"--cfgs {path}: no such file")
    cfg = load_config(path, args.set, phase="train")
    sampler = cfg.trainer.sampler
    if sampler.get("type") == "CommonSampler":
        raise UserInputError(f"--cfgs {path}: a CommonSampler config (one batch of {sampler['batch_size']} "
                             "sequences, not P x K): fit_batch sizes P x K triplet batches")
    k = args.k or int(sampler["batch_size"][1])
    frames = args.frames or int(sampler.get("frames_num_fixed") or 30)
    budget = args.gib * (1 - args.headroom) * GIB
    out = {"config": path, "overrides": args.set, "k": k, "frames": frames, "gib": args.gib,
           "headroom": args.headroom, "device": args.device,
           "config_batch": list(sampler["batch_size"]), "measurements": []}
    if args.device.startswith("cuda"):
        lo, hi, p = 0, None, 1
        while p <= args.max_p:                      # doubling, then bisection
            ok, r = fits_on_cuda(path, p, k, frames, args)
            out["measurements"].append({"p": p, "fits": ok, **(r or {})})
            print(f"{path}: P {p} x K {k}: " + (f"{r['measured_bytes'] / GIB:.2f} GiB" if r else "out of memory"),
                  flush=True)
            lo, hi = (p, hi) if ok else (lo, p)
            if hi is None:
                p *= 2
            elif hi - lo <= 1:
                break
            else:
                p = (lo + hi) // 2
        out.update(largest_p=lo, how="measured (fp16, torch.cuda.max_memory_allocated)")
        at = next((m for m in out["measurements"] if m["p"] == lo), None)
        out["fp16_gib_at_largest"] = at["measured_bytes"] / GIB if at else None
        print(f"{path}: largest batch that fits {args.gib:g} GiB with {args.headroom:.0%} headroom: "
              f"{lo} x {k} x {frames} frames (measured on {args.device})")
        return out
    points = {}
    for p in measured_points(args.points, k):
        r = measure_step(path, p, k, frames, args.set, "cpu", args.threads)
        points[p] = r
        out["measurements"].append({"p": p, **r})
        print(f"{path}: P {p} x K {k} x {frames} frames, fp32 on CPU: {r['measured_bytes'] / GIB:.2f} GiB "
              f"measured (saved-activation estimate {r['estimate_bytes'] / GIB:.2f} GiB)", flush=True)
    fit = cpu_projection(points, points[1]["parameters"], budget, args.max_p)
    projection = fit.pop("fp16_projection")
    out.update(fit, how="projected to fp16 from two fp32 CPU measurements (linear in P)")
    out["fp16_gib_at_largest"] = projection(max(1, fit["largest_p"])) / GIB
    cp, ck = out["config_batch"]
    if ck == k:
        out["fp16_gib_at_config_batch"] = projection(cp) / GIB
    print(f"{path}: largest batch that fits {args.gib:g} GiB with {args.headroom:.0%} headroom in FP16 on a "
          f"GPU (projected): {fit['largest_p']} x {k} x {frames} frames, {out['fp16_gib_at_largest']:.2f} GiB; "
          "measure it on the GPU with --device cuda")
    return out


def markdown(rows: list[dict], args: argparse.Namespace, argv: list[str]) -> str:
    lines = ["# Largest training batch per config", "", "```",
             "python benchmarks/fit_batch.py " + " ".join(argv), "```", "",
             f"Budget {args.gib:g} GiB with {args.headroom:.0%} headroom; {platform.machine()}, "
             f"{os.cpu_count()} cores, device {args.device}. "
             + ("On a CPU: two fp32 training steps (the second a steady-state one, with momentum) at "
                "each P in a fresh process, peak resident set; a line through the two largest P, "
                "activations halved and fp16 weight copies added for the FP16 projection; the "
                "saved-activation estimate (tensors autograd saves, inputs, weights, gradients, "
                "momentum) is shown for comparison: it misses the recomputation's transient memory."
                if not args.device.startswith("cuda") else
                "Each batch measured in a fresh process with torch.cuda.max_memory_allocated (FP16)."), "",
             "| config | overrides | K x frames | measured fp32 at P = 1 / 2 (/ 4) (GiB) | "
             "saved-activation estimate (GiB) | config's batch | FP16 at it (GiB) | largest P x K | FP16 at it (GiB) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        m = r["measurements"]
        meas = " / ".join(f"{x['measured_bytes'] / GIB:.2f}" for x in m) if m and "measured_bytes" in m[0] else "-"
        est = " / ".join(f"{x['estimate_bytes'] / GIB:.2f}" for x in m) if m and "estimate_bytes" in m[0] else "-"
        at_cfg = r.get("fp16_gib_at_config_batch")
        lines.append(f"| {r['config']} | {' '.join(r['overrides']) or '-'} | {r['k']} x {r['frames']} | {meas} | {est} | "
                     f"{r['config_batch'][0]} x {r['config_batch'][1]} | "
                     f"{'-' if at_cfg is None else f'{at_cfg:.2f}'} | {r['largest_p']} x {r['k']} | "
                     f"{r['fp16_gib_at_largest']:.2f} |")
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace, argv: list[str]) -> int:
    if not 0 <= args.headroom < 1:
        raise UserInputError(f"--headroom {args.headroom}: expected a share from 0 to below 1")
    args.device = resolve_device_name(args.device)
    rows = [fit_config(path, args) for path in args.cfgs]
    if args.out:
        atomic_write_report(args.out, markdown(rows, args, argv), rows)
        print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(lambda a: main(a, sys.argv[1:]), parse_args()))
