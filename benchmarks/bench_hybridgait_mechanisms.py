"""HybridGait's mechanisms on the synthetic set: where the UL weights go, and what they cost.

1. UL weights after training: the CPU-sized HybridGait config (opengait/configs/hybridgait/
   hybridgait_synthetic.yaml) trained on the synthetic CASIA-B set as shipped (UL logits,
   LayerScale, norms and biases without weight decay; UL logits at 0.1 x the learning rate;
   gradient norm clipped at 5), with every parameter decayed (``optimizer_cfg.no_weight_decay:
   none``, the first version's behaviour), with the UL logits at the full learning rate, and
   without gradient clipping; ``ul/upper`` read back from TensorBoard at every logged
   iteration, and the iteration a run diverged at, if it did.
2. Step time: one training step of HybridGait against SkeletonGait++ at their CASIA-B configs'
   sizes (same inputs, same process, fp32 on the CPU; target <= 1.25x).

    python benchmarks/bench_hybridgait_mechanisms.py [--data output/demo/casia_b_work] [--iterations 600]
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench_train_step import MODEL_CONFIGS, time_steps  # noqa: E402
from opengait.engine.memory import random_batch, select_inputs  # noqa: E402
from gaitcore.atomic_files import atomic_write_report
from gaitcore.cli import run_script
from opengait.config import load_config
from opengait.engine.optim import build_optimizer
from opengait.modeling.losses import LossAggregator
from opengait.modeling.registry import build_model

REPO = Path(__file__).resolve().parents[1]
CONFIG = "opengait/configs/hybridgait/hybridgait_synthetic.yaml"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO / "output/demo/casia_b_work"),
                   help="preprocessed synthetic CASIA-B work folder (default: the one `make demo` "
                        "writes; made here when missing)")
    p.add_argument("--iterations", type=int, default=600, help="training iterations per run (default 600)")
    p.add_argument("--steps", type=int, default=3, help="timed steps, best taken (default 3)")
    p.add_argument("--scratch", default=str(REPO / "output/bench/hybridgait_mechanisms"),
                   help="run folders (default output/bench/hybridgait_mechanisms)")
    p.add_argument("--out", default=str(REPO / "benchmarks/results/hybridgait_mechanisms.md"),
                   help="markdown result (a .json is written next to it)")
    args = p.parse_args(argv)
    if args.iterations < 4 or args.steps < 1:
        p.error("--iterations must be >= 4 and --steps >= 1")
    return args


def ensure_data(work: Path) -> None:
    if (work / "casia_b.json").exists():
        return
    raw = work.parent / "synthetic_casia_b"
    py = sys.executable
    for cmd in ([py, "datasets_preprocess/synthetic/make_synthetic_gait.py", "--layout", "casia_b", "--out", raw],
                [py, "datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes", raw / "silhouettes",
                 "--pose-from", raw / "poses", "--out", work],
                [py, "datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
                 "--out", work]):
        subprocess.run([str(c) for c in cmd], cwd=REPO, check=True, capture_output=True)


def ul_trajectory(args: argparse.Namespace, name: str, extra: list[str]) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out = Path(args.scratch) / name
    sets = [f"data_cfg.dataset_root={Path(args.data) / 'pretreated'}",
            f"data_cfg.dataset_partition={Path(args.data) / 'casia_b.json'}",
            f"trainer_cfg.total_iter={args.iterations}", f"trainer_cfg.save_iter={args.iterations}",
            f"trainer_cfg.log_iter={max(1, args.iterations // 12)}", "trainer_cfg.image_log_iter=0",
            "trainer_cfg.restore_hint=latest", *extra]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "opengait/opengait/main.py", "--cfgs", CONFIG, "--phase", "train",
                           "--output_root", str(out), *sum((["--set", s] for s in sets), [])],
                          cwd=REPO, capture_output=True, text=True)
    diverged = re.search(r"iteration (\d+): loss is (nan|inf)", done.stderr)
    if done.returncode != 0 and not diverged:
        raise RuntimeError(f"{name}: training failed:\n{done.stderr[-2000:]}")
    summary = next(out.rglob("summary"))
    acc = EventAccumulator(str(summary), size_guidance={"scalars": 0})
    acc.Reload()
    upper = {e.step: round(e.value, 4) for e in acc.Scalars("ul/upper")} if "ul/upper" in acc.Tags()["scalars"] else {}
    return {"iterations": sorted(upper), "upper": [upper[i] for i in sorted(upper)],
            "diverged_at": int(diverged.group(1)) if diverged else None,
            "seconds": round(time.perf_counter() - start)}


def step_ratio(args: argparse.Namespace) -> dict:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    times = {}
    for name in ("SkeletonGaitPP", "HybridGait"):
        cfg = load_config(REPO / MODEL_CONFIGS[name])
        batch = select_inputs(random_batch(1, 2, 30), cfg.data)
        model = build_model(cfg.model, 74)
        times[name] = time_steps(model, LossAggregator(cfg.losses), build_optimizer(model, cfg.optimizer),
                                 batch, args.steps, lambda: torch.autocast("cpu", enabled=False))
    return {"seconds": {k: round(v, 2) for k, v in times.items()},
            "ratio": round(times["HybridGait"] / times["SkeletonGaitPP"], 3)}


def main(args: argparse.Namespace) -> int:
    ensure_data(Path(args.data))
    runs = {"as shipped": ul_trajectory(args, "shipped", []),
            "every parameter decayed": ul_trajectory(args, "all_decayed", ["optimizer_cfg.no_weight_decay=none"]),
            "UL logits at the full learning rate": ul_trajectory(args, "full_lr", ["model_cfg.ul_lr_multiplier=1.0"]),
            "no gradient clipping": ul_trajectory(args, "no_clip", ["trainer_cfg.grad_clip=0"])}
    shipped = runs["as shipped"]
    steps = step_ratio(args)
    result = {"command": "python benchmarks/bench_hybridgait_mechanisms.py " + " ".join(sys.argv[1:]),
              "config": CONFIG, "ul": runs, "step": steps,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"}
    lines = ["# HybridGait mechanisms", "", "```", result["command"].strip(), "```", "",
             f"{result['machine']}. Config `{CONFIG}` on the synthetic CASIA-B set, {args.iterations} "
             "iterations (SGD lr 0.1, weight decay 5e-4).", "",
             "Learned upper-body weight `ul/upper` (lower = 1 - upper; start 0.3):", "",
             "| iteration | " + " | ".join(map(str, shipped["iterations"])) + " |",
             "| --- |" + " --- |" * len(shipped["iterations"]),
             *[f"| {name} | " + " | ".join(f"{v:.3f}" for v in run["upper"])
               + " | -" * (len(shipped["iterations"]) - len(run["upper"]))
               + (f" (diverged at iteration {run['diverged_at']})" if run["diverged_at"] else "") + " |"
               for name, run in runs.items()], "",
             f"Training step at the CASIA-B configs' sizes (1 x 2 x 30 frames, fp32, CPU): HybridGait "
             f"{steps['seconds']['HybridGait']} s, SkeletonGait++ {steps['seconds']['SkeletonGaitPP']} s: "
             f"**{steps['ratio']:.2f}x** (target <= 1.25x)."]
    atomic_write_report(args.out, lines, result)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
