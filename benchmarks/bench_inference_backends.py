"""Inference speed of the three backends: eager PyTorch, torch.compile and onnxruntime.

Each model (the shipped CASIA-B configs' architecture, random weights, eval mode) embeds the same
sequences (``--batch`` sequences of ``--frames`` frames of 64 x 44, after the evaluator's
transforms) through eager PyTorch, ``torch.compile`` (the test phase's ``evaluator_cfg.compile``:
dynamic shapes) and the ONNX file ``export_onnx.py`` writes, run by onnxruntime. Sequences/s is
the median over ``--repeats`` timed calls after warm-up (compiling is reported apart); the
embeddings of the three must agree within 1e-4 of eager's. Threads as given (default 1, like
the other side-by-side figures).

    python benchmarks/bench_inference_backends.py                 # ~10 minutes on one core
    python benchmarks/bench_inference_backends.py --models GaitBase --repeats 3
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gaitcore.atomic_files import atomic_write_report
from gaitcore.cli import run_script

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "GaitBase": "opengait/configs/gaitbase/gaitbase_casia_b.yaml",
    "SkeletonGait++": "opengait/configs/skeletongait/skeletongait++_casia_b.yaml",
    "DeepGaitV2": "opengait/configs/deepgaitv2/deepgaitv2_casia_b.yaml",
    "HybridGait": "opengait/configs/hybridgait/hybridgait_casia_b.yaml",
}
TOLERANCE = 1e-4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(CONFIGS), help=f"comma-separated (default {','.join(CONFIGS)})")
    p.add_argument("--batch", type=int, default=4, help="sequences per call (default 4)")
    p.add_argument("--frames", type=int, default=30, help="frames per sequence (default 30)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per backend (default 5)")
    p.add_argument("--threads", type=int, default=1, help="threads for every backend (default 1)")
    p.add_argument("--out", default=str(REPO / "benchmarks/results/inference_backends.md"),
                   help="markdown result (a .json is written next to it)")
    args = p.parse_args(argv)
    args.model_list = args.models.split(",")
    unknown = [m for m in args.model_list if m not in CONFIGS]
    if unknown:
        p.error(f"--models: unknown {', '.join(unknown)} (known: {', '.join(CONFIGS)})")
    return args


def inputs_for(modalities, n: int, t: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = {}
    for m in modalities:
        if m == "1_sil":
            data[m] = (rng.random((n, t, 64, 44)) > 0.5).astype(np.float32)
        elif m == "0_heatmap":
            data[m] = rng.random((n, t, 2, 64, 44)).astype(np.float32)
        elif m == "2_pose":
            xy = rng.random((n, t, 17, 2)) * np.array([44.0, 64.0])
            data[m] = np.concatenate([xy, 0.5 + 0.5 * rng.random((n, t, 17, 1))], -1).astype(np.float32)
    return data


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def bench_model(name: str, args: argparse.Namespace, scratch: Path) -> dict:
    import torch
    from opengait.config import load_config
    from opengait.engine.onnx_model import OnnxModel, export
    from opengait.modeling.registry import build_model, model_inputs
    cfg = load_config(REPO / CONFIGS[name])
    model_cfg = {**cfg.model, "checkpoint_stages": []}
    modalities = tuple(model_inputs(model_cfg))
    torch.manual_seed(0)
    model = build_model(model_cfg, 74).eval()
    data = inputs_for(modalities, args.batch, args.frames)
    frames = np.tile(np.arange(args.frames), (args.batch, 1))
    tensors = {m: torch.from_numpy(v) for m, v in data.items()}
    frames_t = torch.from_numpy(frames)

    def run(net):
        with torch.no_grad():
            return net(tensors, None, frames_t)["inference_feat"]["embeddings"].numpy()
    eager_out = run(model)
    eager_s, _ = timed(lambda: run(model), args.repeats)
    compiled = torch.compile(model, dynamic=True)
    start = time.perf_counter()
    compiled_out = run(compiled)
    compile_s = time.perf_counter() - start
    compiled_s, _ = timed(lambda: run(compiled), args.repeats)
    identity = {"model": name, "benchmark": "random weights"}
    path = scratch / f"{name.replace('+', 'p')}.onnx"
    record = export(model, modalities, {m: v[0] for m, v in data.items()}, path, identity)
    onnx_model = OnnxModel(path, threads=args.threads)
    onnx_out = onnx_model.embed(data, frames)
    onnx_s, _ = timed(lambda: onnx_model.embed(data, frames), args.repeats)
    row = {"model": name, "config": CONFIGS[name], "batch": f"{args.batch}x{args.frames}",
           "eager_s": eager_s, "compiled_s": compiled_s, "compile_s": compile_s, "onnxruntime_s": onnx_s,
           "export_s": record["export_seconds"],
           "compiled_max_diff": float(np.abs(compiled_out - eager_out).max()),
           "onnxruntime_max_diff": float(np.abs(onnx_out - eager_out).max())}
    for key in ("compiled_max_diff", "onnxruntime_max_diff"):
        if not row[key] <= TOLERANCE:
            raise RuntimeError(f"{name}: {key} {row[key]:.2e} > {TOLERANCE:g}")
    print(row, flush=True)
    return row


def main(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in tqdm(args.model_list, desc="models", unit="model"):
            rows.append(bench_model(name, args, Path(scratch)))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s), torch {torch.__version__}"
    seqs = args.batch
    lines = ["# Inference backends: eager PyTorch, torch.compile, onnxruntime", "", "```",
             "python benchmarks/bench_inference_backends.py " + " ".join(sys.argv[1:]), "```", "",
             f"{machine}. Each call embeds {args.batch} sequences of {args.frames} frames (64 x 44), random "
             f"weights at the shipped CASIA-B configs' architecture; median of {args.repeats} calls; "
             f"embeddings of every backend within {TOLERANCE:g} of eager's.", "",
             "| model | eager seq/s | compiled seq/s (compiling) | onnxruntime seq/s (export) | onnxruntime / eager | "
             "compiled / eager | max abs diff (compiled, onnxruntime) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['model']} | {seqs / r['eager_s']:.2f} | {seqs / r['compiled_s']:.2f} ({r['compile_s']:.0f} s) | "
                     f"{seqs / r['onnxruntime_s']:.2f} ({r['export_s']:.0f} s) | {r['eager_s'] / r['onnxruntime_s']:.2f}x | "
                     f"{r['eager_s'] / r['compiled_s']:.2f}x | {r['compiled_max_diff']:.1e}, "
                     f"{r['onnxruntime_max_diff']:.1e} |")
    atomic_write_report(args.out, lines, {"rows": rows, "machine": machine, "threads": args.threads})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
