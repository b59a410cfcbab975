"""Speed figures side by side, in one run: preprocessing, data loader, training steps, evaluation,
and the peak memory of each measurement.

Each part runs in a fresh process, and its peak resident memory is read from that process's own
VmHWM (gaitcore.process_memory; ru_maxrss would carry over the parent's resident set):
  1. preprocessing frames/s (silhouette alignment, skeleton maps; per core and with workers; the
     end-to-end rearrange script) -- benchmarks/bench_preprocess.py;
  2. data-loader sequences/s with and without the in-memory cache (needs a preprocessed synthetic
     set: `make demo`, or --data);
  3. training step time and sequences/s of GaitBase / SkeletonGait++ / HybridGait at the shipped
     CASIA-B configs' architecture (fp32 and bf16 on CPU; fp16 on CUDA when present), with the
     FP16 training-memory estimate of each config;
  4. evaluation time for N x N features (default 5,000 x 5,000).
The measuring code lives in bench_preprocess.py and bench_train_step.py; this script runs it and
writes <out>/speed.md and speed.json. Absolute CPU figures are not GPU figures.

    python benchmarks/run_speed.py             # ~20 minutes on 2 CPU cores (bf16 steps are slow there)
    python benchmarks/run_speed.py --quick     # small batch, 1 step, N = 1,000: ~3 minutes
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from gaitcore.atomic_files import atomic_write_text
from gaitcore.process_memory import peak_rss_bytes, reset_peak_rss, rss_bytes
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError

REPO = Path(__file__).resolve().parents[1]
MIB = 2 ** 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1x2 sequences x 10 frames, 1 step, N 1000, 1 repeat")
    p.add_argument("--models", default="GaitBase,SkeletonGaitPP,HybridGait",
                   help="comma-separated models for the training-step figures (default all three)")
    p.add_argument("--precisions", default="fp32,bf16", help="CPU precisions of the training step (default fp32,bf16)")
    p.add_argument("--data", default=str(REPO / "output/demo/casia_b_work"),
                   help="preprocessed synthetic work folder for the loader (default: make demo's)")
    p.add_argument("--raw", help="synthetic casia_b raw root for the preprocessing figures (default: "
                                 "bench_preprocess.py generates 4 subjects)")
    p.add_argument("--eval-size", type=int, default=None,
                   help="probes = gallery = N (default 5000; --quick uses 1000 and refuses this option)")
    p.add_argument("--workers", type=int, default=2, help="preprocessing worker processes (default 2)")
    p.add_argument("--out", default=str(REPO / "benchmarks/results"), help="folder of speed.md / speed.json")
    p.add_argument("--scratch", default=str(REPO / "output/bench/speed"), help="working folder (default output/bench/speed)")
    args = p.parse_args(argv)
    if args.quick and args.eval_size is not None:
        p.error(f"--quick sets the evaluation size to 1000; drop --eval-size {args.eval_size} "
                "or --quick")
    if args.eval_size is None:
        args.eval_size = 1000 if args.quick else 5000
    return args


def _with_peak_rss(fn_name: str, *args):
    """Child side: run ``bench_train_step.<fn_name>(*args)``; return it with the RSS before and at peak."""
    from benchmarks import bench_train_step
    reset_peak_rss()
    before = rss_bytes()
    result = getattr(bench_train_step, fn_name)(*args)
    return result, before / MIB, peak_rss_bytes() / MIB


def in_fresh_process(fn_name: str, *args) -> tuple:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_with_peak_rss, fn_name, *args).result()


def run_preprocess(args: argparse.Namespace) -> tuple[dict, float, float]:
    out = Path(args.scratch) / "preprocess_speed.md"
    cmd = [sys.executable, str(REPO / "benchmarks/bench_preprocess.py"), "--workers", str(args.workers),
           "--scratch", str(Path(args.scratch) / "preprocess"), "--out", str(out)]
    if args.quick:
        cmd += ["--repeats", "1"]
    if args.raw:
        cmd += ["--data", str(args.raw)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise UserInputError(f"bench_preprocess.py failed:\n{proc.stderr[-3000:]}")
    result = json.loads(out.with_suffix(".json").read_text())
    return result, result["main_process_peak_mib"], time.perf_counter() - start


def main(args: argparse.Namespace, argv: list[str]) -> int:
    setup_logging()
    from benchmarks import bench_train_step
    train_args = bench_train_step.parse_args(["--quick"] if args.quick else [])
    bench_train_step.apply_quick(train_args)
    train_args.eval_size = args.eval_size
    train_args.precisions = args.precisions
    p, k = (int(v) for v in train_args.batch.lower().split("x"))
    start = time.time()
    print("[1/4] preprocessing ...", flush=True)
    preprocess, pre_rss, _ = run_preprocess(args)
    rows = []
    for i, name in enumerate(args.models.split(",")):
        print(f"[3/4] training step: {name} ...", flush=True)
        row, base, peak = in_fresh_process("bench_model", name, train_args, p, k)
        rows.append({**row, "peak_rss_mib": peak, "rss_after_imports_mib": base})
    print("[2/4] data loader ...", flush=True)
    loader, loader_base, loader_peak = in_fresh_process("bench_loader", Path(args.data))
    print("[4/4] evaluation ...", flush=True)
    evaluation, eval_base, eval_peak = in_fresh_process("bench_eval", train_args.eval_size)
    wall = time.time() - start

    import torch
    lines = ["# Speed figures", "", "```", " ".join(["python benchmarks/run_speed.py", *argv]), "```", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, CUDA: "
             f"{torch.cuda.is_available()}; whole run {wall / 60:.1f} min. **These are CPU figures; a GPU "
             "trains and evaluates one to two orders of magnitude faster.** Peak memory is the resident "
             "set (VmHWM) of the process that made the measurement, imported libraries included.", "",
             "## Preprocessing (synthetic CASIA-B frames, 320x240)", "",
             "| processes | alignment frames/s | skeleton maps frames/s |", "| --- | --- | --- |"]
    for w, r in preprocess["compute"].items():
        lines.append(f"| {w} | {r['alignment_fps']:.0f} | {r['skeleton_map_fps']:.0f} |")
    lines += ["", "| end to end `rearrange_to_grew.py`, workers | seconds | frames/s |", "| --- | --- | --- |"]
    for w, r in preprocess["end_to_end"].items():
        lines.append(f"| {w} | {r['seconds']} | {r['frames_per_s']} |")
    lines += ["", f"Peak memory of the benchmark's main process: {pre_rss:.0f} MiB.", "",
              "## Data loader (synthetic SkeletonGait++ config, 4 x 3 sequences x 12 frames, one process)", ""]
    if loader:
        lines += ["| mode | sequences / s | preload (s) |", "| --- | --- | --- |"]
        lines += [f"| {mode} | {v['sequences_per_s']:.0f} | {v['preload_s']:.1f} |" for mode, v in loader.items()]
        lines += ["", f"Peak memory: {loader_peak:.0f} MiB ({loader_base:.0f} MiB after imports)."]
    else:
        lines.append(f"Skipped: no preprocessed set at {args.data} (run `make demo` or pass --data).")
    lines += ["", f"## Training step (timed batch {rows[0]['timed_batch']}, P x K x frames of 64x44, "
              "random inputs, forward + losses + backward + SGD step)", "",
              *bench_train_step.step_table(rows, p * k, "peak_rss_mib")]
    lines += ["", "Training memory of the shipped CASIA-B configs in FP16 on a GPU (estimated from the "
              "activations saved for backward, see opengait/opengait/engine/memory.py; with "
              "checkpoint_stages this misses the recomputation and is too low -- benchmarks/fit_batch.py "
              "measures; measured here too when CUDA is present):", "", *bench_train_step.memory_table(rows)]
    lines += ["", f"## Evaluation ({evaluation['n']} probes x {evaluation['n']} gallery, 256 x 16 part "
              "embeddings, Euclidean)", "",
              f"Top-20 ranking {evaluation['top20_s']:.1f} s; full distance matrix "
              f"{evaluation['full_matrix_s']:.1f} s; peak memory {eval_peak:.0f} MiB ({eval_base:.0f} MiB "
              "after imports).", ""]
    out = Path(args.out)
    atomic_write_text(out / "speed.md", "\n".join(lines))
    atomic_write_text(out / "speed.json", json.dumps(
        {"command": ["python", "benchmarks/run_speed.py", *argv], "wall_seconds": wall,
         "machine": {"arch": platform.machine(), "cpu_cores": os.cpu_count(), "torch": torch.__version__,
                     "cuda": torch.cuda.is_available()},
         "preprocess": {**preprocess, "peak_rss_mib": pre_rss},
         "loader": loader and {**loader, "peak_rss_mib": loader_peak},
         "training": rows, "evaluation": {**evaluation, "peak_rss_mib": eval_peak}}, indent=1) + "\n")
    print("\n".join(lines))
    print(f"speed figures in {wall / 60:.1f} min -> {out / 'speed.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(lambda a: main(a, sys.argv[1:]), parse_args()))
