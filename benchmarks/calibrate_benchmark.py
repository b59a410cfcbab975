"""Calibrate the synthetic benchmark against published behaviour, with OpenGait's baselines only.

On tuning populations (data seeds the study never uses), CASIA-B-sized (74 training and 50 test
ids), the five baselines -- GaitBase, DeepGaitV2 (silhouettes), SkeletonGait (skeleton maps),
GaitGraph2 (keypoints), SkeletonGait++ (both) -- train with the study's budget and are scored
against four targets (published sources in docs/results.md):

- (a) the silhouette baselines' CL / NM rank-1 lies in [0.70, 0.88] (CASIA-B: GaitBase 77.4 / 97.6);
- (b) the best keypoint-only baseline reaches >= 0.6 x GaitBase's NM rank-1, and its CL / NM is at
  least GaitBase's (GaitGraph2 on CASIA-B: about 80 / 71 / 64, 0.82 of GaitBase's NM; keypoints
  change less with clothes than silhouettes do);
- (c) SkeletonGait++ - GaitBase on CL is above 0 with its 95% interval over the populations above 0
  (SkeletonGait++'s published gains over GaitBase: CCPG CL +7.5, Gait3D +13.0, GREW +25.7);
- (d) GaitBase's NM rank-1 <= 97 (the benchmark is not at its ceiling).

HybridGait and its ablations never run here. Every run is a JSON in
<results>/calibration_runs/; the report (benchmarks/results/calibration.md) is rebuilt from them.

    python benchmarks/calibrate_benchmark.py --jobs 2                  # 3 tuning populations
    python benchmarks/calibrate_benchmark.py --seeds 200 --jobs 2      # one population first
    python benchmarks/calibrate_benchmark.py --report-only
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from gaitcore.atomic_files import atomic_write_text
from gaitcore.cli import run_script, setup_logging
from study.design import CASIA_GENERATOR, ITERATIONS as STUDY_ITERATIONS
from study.pipelines import Population, preprocessed, work_folder, write_json
from study.runs import REPO, RunSpec, finished, schedule_sets, train_and_test
from study.stats import paired

CONDITIONS = ("NM", "BG", "CL")
BASELINES = {   # name -> (config, reads)
    "GaitBase": ("opengait/configs/gaitbase/gaitbase_synthetic.yaml", "silhouettes"),
    "DeepGaitV2": ("opengait/configs/deepgaitv2/deepgaitv2_synthetic.yaml", "silhouettes"),
    "SkeletonGait": ("opengait/configs/skeletongait/skeletongait_synthetic.yaml", "keypoints"),
    "GaitGraph2": ("opengait/configs/gaitgraph2/gaitgraph2_synthetic.yaml", "keypoints"),
    "SkeletonGait++": ("opengait/configs/skeletongait/skeletongait++_synthetic.yaml", "both"),
}
TUNING_SEEDS = "200,201,202"
# The benchmark's generator settings and budget are the study's (study/design.py).
GENERATOR, ITERATIONS = CASIA_GENERATOR, STUDY_ITERATIONS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default=TUNING_SEEDS, help=f"tuning populations' data seeds (default {TUNING_SEEDS})")
    p.add_argument("--models", default=",".join(BASELINES), help="baselines (default all five)")
    p.add_argument("--generator", default="",
                   help="extra generator options for every population, e.g. \"--pose-noise 1.5\" (default none)")
    p.add_argument("--wardrobe", default=GENERATOR["wardrobe"], choices=("v2", "v3", "v4"),
                   help=f"the populations' wardrobe (default {GENERATOR['wardrobe']})")
    p.add_argument("--iterations", type=int, default=ITERATIONS, help=f"training iterations (default {ITERATIONS})")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time; each gets cores/jobs threads (default 1)")
    p.add_argument("--threads", type=int, default=0,
                   help="threads per run (default 0: cores / jobs); 1 leaves a core free for other work")
    p.add_argument("--work", default="output/calibration", help="data and run folders (default output/calibration)")
    p.add_argument("--results", default="benchmarks/results", help="report and run files (default benchmarks/results)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from the run files")
    p.add_argument("--overwrite", action="store_true", help="retrain runs whose result file exists")
    args = p.parse_args(argv)
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds {args.seeds!r}: expected comma-separated integers")
    args.model_list = args.models.split(",")
    unknown = [m for m in args.model_list if m not in BASELINES]
    if unknown or args.jobs < 1 or args.iterations < 4:
        p.error(f"--models: unknown {', '.join(unknown)}" if unknown else "--jobs >= 1 and --iterations >= 4")
    args.work, args.results = Path(args.work), Path(args.results)
    return args


def population(args, seed: int) -> Population:
    return Population(seed=seed, **{**GENERATOR, "wardrobe": args.wardrobe}, extra=tuple(args.generator.split()))


def spec(args, model: str, seed: int, build: bool) -> RunSpec:
    pop = population(args, seed)
    data = preprocessed(pop, args.work) if build else work_folder(pop, args.work)
    config = BASELINES[model][0]
    schedule = schedule_sets(config, args.iterations)
    name = "".join(c if c.isalnum() else "_" for c in f"{model}_{pop.slug}").replace("__", "_")
    return RunSpec(name, config, data, "casia_b.json", (*schedule, "evaluator_cfg.view_pair_map=true"),
                   seed=seed, iterations=args.iterations,
                   settings={"population": pop.describe(), "model": model, "purpose": "calibration"})


def rank1(record: dict, cond: str) -> float:
    return 100 * record["metrics"][cond]


def targets(runs: dict[str, dict[int, dict]]) -> list[dict]:
    """The four targets over the populations that have every model they need."""
    rows = []

    def mean_over(model, f):
        values = [f(r) for r in runs.get(model, {}).values()]
        return float(np.mean(values)) if values else float("nan")
    for model in ("GaitBase", "DeepGaitV2"):
        if model not in runs:
            rows.append({"target": f"(a) {model} CL / NM in [0.70, 0.88]", "value": "not run yet", "met": None})
            continue
        ratio = mean_over(model, lambda r: rank1(r, "CL") / rank1(r, "NM"))
        rows.append({"target": f"(a) {model} CL / NM in [0.70, 0.88]", "value": f"{ratio:.2f}",
                     "met": bool(0.70 <= ratio <= 0.88)})
    base_nm = mean_over("GaitBase", lambda r: rank1(r, "NM"))
    base_ratio = mean_over("GaitBase", lambda r: rank1(r, "CL") / rank1(r, "NM"))
    pose = {m: mean_over(m, lambda r: rank1(r, "NM")) for m in ("GaitGraph2", "SkeletonGait") if m in runs}
    if pose and "GaitBase" in runs:
        best = max(pose, key=pose.get)
        ratio = mean_over(best, lambda r: rank1(r, "CL") / rank1(r, "NM"))
        rows.append({"target": f"(b) best keypoint-only ({best}) NM >= 0.6 x GaitBase NM",
                     "value": f"{pose[best]:.1f} vs {0.6 * base_nm:.1f}", "met": bool(pose[best] >= 0.6 * base_nm)})
        rows.append({"target": f"(b) {best} CL / NM >= GaitBase's", "value": f"{ratio:.2f} vs {base_ratio:.2f}",
                     "met": bool(ratio >= base_ratio)})
    seeds = sorted(set(runs.get("SkeletonGait++", {})) & set(runs.get("GaitBase", {})))
    if seeds:
        diff = paired({s: [rank1(runs["SkeletonGait++"][s], "CL") - rank1(runs["GaitBase"][s], "CL")] for s in seeds})
        interval = f" [{diff.lo:+.1f}, {diff.hi:+.1f}]" if np.isfinite(diff.lo) else " (one population)"
        rows.append({"target": "(c) SkeletonGait++ - GaitBase on CL > 0, interval above 0",
                     "value": f"{diff.mean:+.1f}{interval}", "met": bool(np.isfinite(diff.lo) and diff.lo > 0)})
    if "GaitBase" in runs:
        rows.append({"target": "(d) GaitBase NM <= 97", "value": f"{base_nm:.1f}", "met": bool(base_nm <= 97)})
    else:
        rows.append({"target": "(b), (d) need GaitBase", "value": "not run yet", "met": None})
    return rows


def report(args, runs: dict[str, dict[int, dict]], argv: list[str]) -> str:
    pop = population(args, args.seed_list[0])
    lines = ["# Calibration of the synthetic benchmark (tuning populations, baselines only)", "", "```",
             "python benchmarks/calibrate_benchmark.py " + " ".join(argv), "```", "",
             f"Populations: data seeds {', '.join(map(str, args.seed_list))} (never study seeds); "
             f"{pop.subjects} subjects (74 train, 50 test ids: chance 2%), views {pop.views}, {pop.frames} frames, "
             f"wardrobe {pop.wardrobe}, keypoints `--keypoint-noise {pop.keypoint_noise}`"
             + (f", generator options `{args.generator}`" if args.generator else "") + f"; {args.iterations} "
             "iterations per run, training seed = data seed. Rank-1 (%), identical view excluded; mAP per view "
             "pair. Mean over the populations (± std where more than one).", "",
             "| model | reads | populations | NM | BG | CL | CL / NM | mean mAP |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for model, by_seed in runs.items():
        cells = []
        for c in CONDITIONS:
            v = [rank1(r, c) for r in by_seed.values()]
            cells.append(f"{np.mean(v):.1f}" + (f" ± {np.std(v, ddof=1):.1f}" if len(v) > 1 else ""))
        ratio = np.mean([rank1(r, "CL") / rank1(r, "NM") for r in by_seed.values()])
        mean_map = np.mean([100 * np.mean([r["metrics"][f"{c}-mAP"] for c in CONDITIONS]) for r in by_seed.values()])
        lines.append(f"| {model} | {BASELINES[model][1]} | {len(by_seed)} | " + " | ".join(cells)
                     + f" | {ratio:.2f} | {mean_map:.1f} |")
    lines += ["", "| target | value | met |", "| --- | --- | --- |"]
    lines += [f"| {t['target']} | {t['value']} | {'–' if t['met'] is None else 'yes' if t['met'] else 'no'} |"
              for t in targets(runs)]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace, argv: list[str]) -> int:
    setup_logging()
    results = args.results / "calibration_runs"
    tasks = [(m, s) for s in args.seed_list for m in args.model_list]
    runs: dict[str, dict[int, dict]] = {}
    if not args.report_only:
        threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
        start = time.time()
        for seed in args.seed_list:                   # one population at a time: results arrive in order
            specs = {(m, seed): spec(args, m, seed, build=True) for m in args.model_list}

            def do(task):
                record = train_and_test(specs[task], results, args.work / "runs", threads, args.overwrite)
                print(f"[seed {task[1]}] {task[0]}: " + ", ".join(f"{c} {rank1(record, c):.1f}" for c in CONDITIONS)
                      + f" ({record['seconds']:.0f} s)", flush=True)
                return task, record
            with ThreadPoolExecutor(args.jobs) as pool:
                for (model, s), record in pool.map(do, list(specs)):
                    runs.setdefault(model, {})[s] = record
        print(f"calibration: {len(tasks)} runs in {(time.time() - start) / 60:.1f} min", flush=True)
    else:
        for model, seed in tasks:
            record = finished(results, spec(args, model, seed, build=False))
            if record is not None:
                runs.setdefault(model, {})[seed] = record
    atomic_write_text(args.results / "calibration.md", report(args, runs, argv))
    write_json(args.results / "calibration.json", {"generator": {**GENERATOR, "wardrobe": args.wardrobe}, "extra": args.generator,
                                                   "seeds": args.seed_list, "targets": targets(runs),
                                                   "runs": {m: {str(s): r["metrics"] for s, r in v.items()}
                                                            for m, v in runs.items()}})
    print(f"calibration report -> {args.results / 'calibration.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(lambda a: main(a, sys.argv[1:]), parse_args()))
