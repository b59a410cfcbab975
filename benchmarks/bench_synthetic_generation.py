"""How long the synthetic generator takes for its default sizes (the demo uses casia_b).

Runs `make_synthetic_gait.py` for each layout with its defaults into a scratch folder and
records wall time, frames and frames/s. Target: the default casia_b set in under 2 minutes on
2 cores.

    python benchmarks/bench_synthetic_generation.py [--layouts casia_b,ccvid,grew] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from gaitcore.atomic_files import atomic_write_report
from gaitcore.cli import run_script
from gaitcore.parallel import default_workers

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layouts", default="casia_b,ccvid,grew", help="comma-separated layouts to time (default all three)")
    p.add_argument("--workers", type=int, default=default_workers(), help="worker processes (default: all cores)")
    p.add_argument("--scratch", default=str(REPO / "output/bench/synthetic_generation"),
                   help="where the datasets are generated (default output/bench/synthetic_generation)")
    p.add_argument("--out", default=str(REPO / "benchmarks/results/synthetic_generation.md"),
                   help="markdown result (a .json is written next to it)")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    rows = []
    for layout in args.layouts.split(","):
        out = Path(args.scratch) / layout
        cmd = [sys.executable, str(REPO / "datasets_preprocess/synthetic/make_synthetic_gait.py"),
               "--layout", layout, "--out", str(out), "--workers", str(args.workers), "--overwrite"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=REPO)
        seconds = time.perf_counter() - start
        record = json.loads((out / "generation.json").read_text())
        frames = record["counts"].get("frames", 0)
        rows.append({"layout": layout, "seconds": round(seconds, 1), "frames": frames,
                     "frames_per_s": round(frames / seconds, 1),
                     "subjects": record["config"]["subjects"],
                     "command": " ".join(["python", "datasets_preprocess/synthetic/make_synthetic_gait.py",
                                          "--layout", layout, "--workers", str(args.workers)])})
    lines = ["# Synthetic generation speed (default sizes)", "",
             "```", "python benchmarks/bench_synthetic_generation.py " + " ".join(sys.argv[1:]), "```", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, {args.workers} workers.", "",
             "| layout | subjects | frames | wall time (s) | frames/s |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['layout']} | {r['subjects']} | {r['frames']} | {r['seconds']} | {r['frames_per_s']} |"
              for r in rows]
    atomic_write_report(args.out, lines, rows)
    for r in rows:
        print(f"{r['layout']}: {r['frames']} frames in {r['seconds']} s ({r['frames_per_s']} frames/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
