"""Where does identity leave the pose path of the synthetic benchmark, and how much does clothing
hurt silhouettes? One tuning population (its data seed is never a study seed), the study's
training settings, one run per cell:

- keypoints: exact, the estimator model, the estimator with each of its parts switched off,
  and the calibrated model with shared constant errors (``estimator_v3``), read by HybridGait's
  keypoint branch alone ("Pose only");
- normalisation of the keypoints: per-frame height (HybridGait's), the sequence's height, pixels;
- 14 vs 74 training ids (a CASIA-B-sized population: 74 train, 50 test);
- the study's budget vs three times as long;
- HybridGait's keypoint branch vs GaitGraph2 and SkeletonGait (skeleton maps);
- the keypoint branch redesigned: 30 training frames (a whole stride) instead of 12, and
  GaitGraph2's ResGCN as its encoder (``model_cfg.pose_encoder: resgcn``);
- silhouettes: GaitBase per condition, and per garment (coat kind / length, bag kind) from each
  probe's score and what the generator says it wore;
- skeleton maps on the calibrated benchmark (population 200, 3000 iterations): SkeletonGait and
  SkeletonGait++ with exact keypoints, against their estimator_v3 runs of the calibration;
- the real estimator: SkeletonGait on a 30-id population with exact keypoints, estimator_v5's and
  those of the real yolo11n-pose run on its rendered videos (the group "real estimator"; at
  imgsz 640: "real estimator: imgsz 640"), and yolo's with its left/right swaps, its far misses or
  all its positions repaired from the exact keypoints, or its confidences set to 1 ("real
  estimator: repairs"), or each walker given another walker's yolo error ("real estimator:
  transplant"); then GaitBase, SkeletonGait++ and
  GaitGraph2 on the same population ("real estimator: baselines");
- the error model refitted to yolo11n-pose's near error (``estimator_v6``: it under-reports the
  limbs' motion and errs smoothly over a few frames): SkeletonGait, SkeletonGait++ and GaitBase
  with v6 ("error model v6"); SkeletonGait with v6 less each of the two properties, and
  GaitGraph2 with v6 ("error model v6: parts");
- the error model pulling each walker towards the others (``estimator_v7``): SkeletonGait,
  SkeletonGait++ and GaitBase with v7 ("error model v7");
- sequence length: the same 30 walkers rendered at 90 frames (CASIA-B's length) instead of 30,
  with v6 keypoints ("sequence length").

Rank-1 (identical view excluded) and mAP per view pair (evaluator_cfg.view_pair_map). Every run
is a JSON in <results>/diagnosis_runs/ (reused when its settings match); the report is rebuilt
from them.

    python benchmarks/diagnose_benchmark.py --jobs 2            # every cell (hours on 2 cores; resumable)
    python benchmarks/diagnose_benchmark.py --cells keypoints   # one group
    python benchmarks/diagnose_benchmark.py --report-only
"""
from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitcore.atomic_files import atomic_write_text
from gaitcore.cli import run_script, setup_logging
from study.design import CASIA_GENERATOR, ITERATIONS as STUDY_ITERATIONS
from study.pipelines import REAL_ESTIMATOR, Population, looks, preprocessed, training_subset, work_folder, write_json
from study.runs import REPO, RunSpec, finished, schedule_sets, train_and_test

CONDITIONS = ("NM", "BG", "CL")
HYBRID = "opengait/configs/hybridgait/hybridgait_synthetic.yaml"
FULL_HYBRID = ("model_cfg.pose_branch=true", "model_cfg.delta_joint=true", "model_cfg.ul_weighting=true",
               "model_cfg.fusion=cross_attention")
POSE_ONLY = FULL_HYBRID + ("model_cfg.visual_branch=false",)
MODELS = {   # name -> (config, model overrides)
    "Pose only": (HYBRID, POSE_ONLY),
    "GaitGraph2": ("opengait/configs/gaitgraph2/gaitgraph2_synthetic.yaml", ()),
    "SkeletonGait": ("opengait/configs/skeletongait/skeletongait_synthetic.yaml", ()),
    "GaitBase": ("opengait/configs/gaitbase/gaitbase_synthetic.yaml", ()),
    "SkeletonGait++": ("opengait/configs/skeletongait/skeletongait++_synthetic.yaml", ()),
}
ESTIMATOR_PARTS = {   # the estimator model with one part off
    "jitter": "jitter=0", "drift": "drift=0", "per-sequence bias": "bias=0",
    "left/right swaps": "swap_rate=0,coat_swap=0", "coat errors": "coat_error=0,coat_miss=0",
    "bag errors": "bag_error=0,bag_miss=0", "outliers": "outlier_rate=0", "lost joints": "miss_rate=0",
}
SMALL = Population(seed=100, subjects=24)               # the study v2 layout, a tuning seed
LARGE = Population(seed=101, subjects=124)              # CASIA-B-sized: 74 train, 50 test ids
CALIBRATION = Population(seed=200, **CASIA_GENERATOR)   # the calibrated benchmark's first tuning population
# A smaller population whose keypoints are also read off its rendered videos by the real
# yolo11n-pose (30 ids: 18 train, 12 test; about 54,000 frames, some 40 minutes of the pose model
# on 2 cores), with the calibrated benchmark's other settings.
REAL = Population(seed=110, **{**CASIA_GENERATOR, "subjects": 30})
REAL_LONG = Population(seed=110, **{**CASIA_GENERATOR, "subjects": 30, "frames": 90})   # CASIA-B's length
ITERATIONS = 1500


@dataclass(frozen=True)
class Cell:
    group: str
    label: str
    model: str
    population: Population = SMALL
    keypoints: str | None = None          # None: the population's own (estimator)
    sets: tuple[str, ...] = ()
    train_ids: int | None = None
    iterations: int = ITERATIONS
    keep_probes: bool = False

    @property
    def name(self) -> str:
        text = f"{self.group}__{self.label}__{self.model}"
        return "".join(c if c.isalnum() else "_" for c in text.replace("Δ", "delta")).strip("_")


def cells() -> list[Cell]:
    out = [Cell("keypoints", "exact", "Pose only", keypoints="none"),
           Cell("keypoints", "estimator", "Pose only")]
    out += [Cell("keypoints", f"estimator without {part}", "Pose only", keypoints=f"estimator,{change}")
            for part, change in ESTIMATOR_PARTS.items()]
    out.append(Cell("keypoints", "estimator_v3 (shared constant errors)", "Pose only", keypoints="estimator_v3"))
    for norm in ("sequence", "pixels"):
        for kp, tag in ((None, "estimator"), ("none", "exact"), ("estimator_v3", "estimator_v3")):
            out.append(Cell("normalisation", f"{norm}, {tag}", "Pose only", keypoints=kp,
                            sets=(f"model_cfg.pose_normalization={norm}",)))
    out += [Cell("training ids", f"{n} of 74 training ids", "Pose only", population=LARGE, train_ids=n)
            for n in (14, 74)]
    out += [Cell("budget", f"{3 * ITERATIONS} iterations, {tag}", "Pose only", keypoints=kp, iterations=3 * ITERATIONS)
            for kp, tag in ((None, "estimator"), ("none", "exact"))]
    for model in ("GaitGraph2", "SkeletonGait"):
        out += [Cell("models", f"{model}, {tag}", model, keypoints=kp) for kp, tag in (
            (None, "estimator"), ("none", "exact"), ("estimator_v3", "estimator_v3"))]
    out.append(Cell("silhouettes", "GaitBase", "GaitBase", keep_probes=True))
    thirty = ("trainer_cfg.sampler.frames_num_fixed=30", "trainer_cfg.sampler.frames_skip_num=0")
    designs = [("light encoder, 30 frames", thirty),
               ("ResGCN encoder, pixels", ("model_cfg.pose_encoder=resgcn", "model_cfg.pose_normalization=pixels")),
               ("ResGCN encoder, pixels, 30 frames", ("model_cfg.pose_encoder=resgcn",
                                                      "model_cfg.pose_normalization=pixels", *thirty)),
               ("ResGCN encoder, sequence height, 30 frames", ("model_cfg.pose_encoder=resgcn",
                                                               "model_cfg.pose_normalization=sequence", *thirty))]
    for kp, tag in ((None, "estimator"), ("estimator_v3", "estimator_v3")):
        out += [Cell("pose branch", f"{label}, {tag}", "Pose only", keypoints=kp, sets=sets) for label, sets in designs]
    adamw = ("optimizer_cfg={solver: AdamW, lr: 0.005, weight_decay: 0.00001}",)
    recipes = [("light encoder, SGD lr 0.01", ("optimizer_cfg.lr=0.01",)),
               ("light encoder, AdamW 0.005", adamw),
               ("light encoder, batch 8 x 8", ("trainer_cfg.sampler.batch_size=[8, 8]",)),
               ("ResGCN encoder, pixels, 30 frames, AdamW 0.005, batch 8 x 8",
                ("model_cfg.pose_encoder=resgcn", "model_cfg.pose_normalization=pixels", *thirty, *adamw,
                 "trainer_cfg.sampler.batch_size=[8, 8]"))]
    out += [Cell("pose recipe", f"{label}, estimator", "Pose only", sets=sets) for label, sets in recipes]
    # Skeleton maps on the calibrated benchmark: the same models with exact keypoints (their
    # estimator_v3 runs are the calibration's own run files).
    out += [Cell("maps", f"{model}, exact keypoints, calibration population 200", model, population=CALIBRATION,
                 keypoints="none", iterations=STUDY_ITERATIONS) for model in ("SkeletonGait", "SkeletonGait++")]
    # ... and SkeletonGait with the parts of the error model that the identity probe
    # (probe_identity_content.py) flags, one at a time, then the calibration's run at twice the budget.
    out += [Cell("maps", f"SkeletonGait, estimator_v3 without {part}, calibration population 200", "SkeletonGait",
                 population=CALIBRATION, keypoints=f"estimator_v3,{change}", iterations=STUDY_ITERATIONS)
            for part, change in (("outliers and lost joints", "outlier_rate=0,miss_rate=0"),
                                 ("coat and bag errors", "coat_error=0,coat_miss=0,bag_error=0,bag_miss=0"))]
    out.append(Cell("maps", f"SkeletonGait, estimator_v3, {2 * STUDY_ITERATIONS} iterations, calibration population 200",
                    "SkeletonGait", population=CALIBRATION, iterations=2 * STUDY_ITERATIONS))
    # The error model recalibrated for steady confidences, long swaps and rare outliers
    # (estimator_v4, datasets_preprocess/synthetic/pose_error.py) on the same population: the
    # keypoint baselines and the fusion, against their estimator_v3 calibration runs.
    # SkeletonGait first, then with the model's two halves apart: its constant offsets (every
    # bias level) off, and everything but them off.
    v4 = [Cell("error model v4", f"{model}, estimator_v4, calibration population 200", model, population=CALIBRATION,
               keypoints="estimator_v4", iterations=STUDY_ITERATIONS)
          for model in ("SkeletonGait", "SkeletonGait++", "GaitGraph2")]
    halves = [("without its constant offsets", "bias=0,bias_global=0,bias_view=0,bias_person=0,bias_person_view=0,"
                                               "bias_clothes=0"),
              ("with only its constant offsets", "jitter=0,drift=0,swap_rate=0,coat_swap=0,coat_error=0,coat_miss=0,"
                                                 "bag_error=0,bag_miss=0,outlier_rate=0,miss_rate=0")]
    out += v4[:1] + [Cell("error model v4", f"SkeletonGait, estimator_v4 {label}, calibration population 200",
                          "SkeletonGait", population=CALIBRATION, keypoints=f"estimator_v4,{change}",
                          iterations=STUDY_ITERATIONS) for label, change in halves] + v4[1:]
    # estimator_v5: refitted on a realism set four times v4's, where yolo11n-pose errs less and
    # less constantly than v4 said. SkeletonGait first, then the fusion (against GaitBase's 64.5 CL).
    out += [Cell("error model v5", f"{model}, estimator_v5, calibration population 200", model, population=CALIBRATION,
                 keypoints="estimator_v5", iterations=STUDY_ITERATIONS) for model in ("SkeletonGait", "SkeletonGait++")]
    # The real estimator: SkeletonGait on maps drawn from yolo11n-pose's keypoints of the rendered
    # walks, against the same walks' exact keypoints and estimator_v5's errors on them. Does the
    # error model take away the identity the real estimator leaves, or do the walkers carry too
    # little of it for any estimator's error?
    out += [Cell("real estimator", f"SkeletonGait, {tag}, population 110", "SkeletonGait", population=REAL,
                 keypoints=kp) for kp, tag in (("none", "exact"), ("estimator_v5", "estimator_v5"),
                                               (REAL_ESTIMATOR, "yolo11n-pose keypoints"))]
    # The pose model at make_pose_gei.py's default input size (about four times the pose model's time).
    out.append(Cell("real estimator: imgsz 640", "SkeletonGait, yolo11n-pose keypoints at imgsz 640, population 110",
                    "SkeletonGait", population=REAL, keypoints=f"{REAL_ESTIMATOR},imgsz=640"))
    # Which part of yolo11n-pose's error takes the identity out: its keypoints with the left/right
    # swaps undone, and with the far misses (beyond 0.1 body heights) put on the exact joints
    # (study/pose_repair.py).
    out += [Cell("real estimator: repairs", f"SkeletonGait, yolo11n-pose keypoints {label}, population 110",
                 "SkeletonGait",
                 population=REAL, keypoints=f"{REAL_ESTIMATOR},repair={repair}")
            for repair, label in (("swaps", "with its swaps undone"), ("far", "with its far misses put right"),
                                  ("positions", "at the exact places (its confidences kept)"),
                                  ("confidences", "with every confidence 1"))]
    # Is yolo's error tied to the walker it was made on? Each walker gets another walker's error
    # (same type, number, view), frame by frame: the error's statistics stay, the tie goes.
    out.append(Cell("real estimator: transplant", "SkeletonGait, yolo11n-pose's error of another walker, "
                    "population 110", "SkeletonGait", population=REAL, keypoints=f"{REAL_ESTIMATOR},repair=transplant"))
    # ... and what it means for the targets: GaitGraph2 (target b) and SkeletonGait++ against
    # GaitBase (target c) on the same population with yolo11n-pose's keypoints and with estimator_v5's
    # (GaitBase on both work folders: training keeps the frames whose pose passes the quality rules).
    out += [Cell("real estimator: baselines", f"{model}, {tag}, population 110", model, population=REAL, keypoints=kp)
            for model in ("GaitBase", "SkeletonGait++", "GaitGraph2")
            for kp, tag in ((REAL_ESTIMATOR, "yolo11n-pose keypoints"), ("estimator_v5", "estimator_v5"))]
    # estimator_v6: v5 with yolo11n-pose's two near-error properties v5 lacked (it under-reports
    # the limbs' motion; its error is smooth over a few frames), on the same population: does
    # the error model now cost the identity the real estimator costs, and what does that do to
    # the fusion (against GaitBase on the same work folder)? Then each property alone (v6 with
    # the other set back to v5's), and GaitGraph2 (target b; about 50 minutes).
    out += [Cell("error model v6", f"{model}, estimator_v6, population 110", model, population=REAL,
                 keypoints="estimator_v6") for model in ("SkeletonGait", "SkeletonGait++", "GaitBase")]
    out += [Cell("error model v6: parts", f"SkeletonGait, {tag}, population 110", "SkeletonGait", population=REAL,
                 keypoints=kp) for kp, tag in (("estimator_v6,jitter=0.014,wander=0",
                                                "estimator_v6 without its wander (v5's jitter)"),
                                               ("estimator_v6,shrink_x=0,shrink_arm_y=0,shrink_leg_y=0",
                                                "estimator_v6 without its motion shrinkage"))]
    out.append(Cell("error model v6: parts", "GaitGraph2, estimator_v6, population 110", "GaitGraph2",
                    population=REAL, keypoints="estimator_v6"))
    # estimator_v7: v6 pulling each walker towards the others as yolo's error does (its error
    # depends on the walker's own pose: the "transplant" cell).
    out += [Cell("error model v7", f"{model}, estimator_v7, population 110", model, population=REAL,
                 keypoints="estimator_v7") for model in ("SkeletonGait", "SkeletonGait++", "GaitBase")]
    # CASIA-B's sequences are about 70-100 frames (two to three strides); the benchmark renders 30
    # (about one). Test features average over a sequence, so a longer one averages an estimator's
    # error away while the walker's own motion repeats: the same 30 walkers at 90 frames.
    out += [Cell("sequence length", f"{model}, estimator_v6, population 110 at 90 frames", model,
                 population=REAL_LONG, keypoints="estimator_v6")
            for model in ("SkeletonGait", "SkeletonGait++", "GaitBase")]
    return out


def spec_for(cell: Cell, work: Path, build: bool = True) -> RunSpec:
    """The run of a cell; with ``build`` its data are made first (else only named)."""
    data = preprocessed(cell.population, work, cell.keypoints) if build else \
        work_folder(cell.population, work, cell.keypoints)
    partition = "casia_b.json" if cell.train_ids is None else training_subset(data, cell.train_ids, build)
    config, model_sets = MODELS[cell.model]
    schedule = schedule_sets(config, cell.iterations)
    settings = {"population": cell.population.describe(), "keypoints": cell.keypoints or cell.population.keypoint_noise,
                "train_ids": cell.train_ids, "cell": [cell.group, cell.label, cell.model]}
    return RunSpec(cell.name, config, data, partition,
                   (*model_sets, *cell.sets, *schedule, "evaluator_cfg.view_pair_map=true"),
                   seed=cell.population.seed, iterations=cell.iterations, settings=settings,
                   keep_probes=cell.keep_probes)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = sorted({c.group for c in cells()})
    p.add_argument("--cells", help="comma-separated groups to run: " + ", ".join(groups) + " (default all)")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time; each gets cores/jobs threads (default 1)")
    p.add_argument("--threads", type=int, default=0,
                   help="threads per run (default 0: cores / jobs); 1 leaves a core free for other work")
    p.add_argument("--work", default="output/diagnosis", help="data and run folders (default output/diagnosis)")
    p.add_argument("--results", default="benchmarks/results", help="report and run files (default benchmarks/results)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from the run files")
    p.add_argument("--overwrite", action="store_true", help="retrain runs whose result file exists")
    args = p.parse_args(argv)
    args.groups = args.cells.split(",") if args.cells else groups
    unknown = set(args.groups) - set(groups)
    if unknown or args.jobs < 1:
        p.error(f"--cells: unknown {', '.join(sorted(unknown))} (known: {', '.join(groups)})" if unknown
                else "--jobs must be >= 1")
    args.work, args.results = Path(args.work), Path(args.results)
    return args


def value(record: dict, cond: str, metric: str = "rank1") -> float:
    m = record["metrics"]
    key = (lambda c: c) if metric == "rank1" else (lambda c: f"{c}-mAP")
    if cond == "mean":
        return 100 * float(np.mean([m[key(c)] for c in CONDITIONS]))
    return 100 * m[key(cond)]


def garment_rows(record: dict, wear: dict[str, dict]) -> list[tuple[str, int, float]]:
    """Mean rank-1 of the probes by what they wore (coat kind or length, bag kind)."""
    groups = defaultdict(list)
    for key, score in record.get("probes", {}).items():
        sid, typ, _ = key.split("/")
        look = wear.get(f"{sid}-{typ}", {})
        if typ.startswith("nm"):
            groups["NM"].append(score)
        elif typ.startswith("cl") and look.get("coat"):
            coat = look["coat"]
            kind = coat.get("kind") or ("long coat (hem below 0.7 of the thigh)" if coat["length"] >= 0.7
                                        else "short coat (hem above 0.7 of the thigh)")
            groups[f"CL: {kind}"].append(score)
        elif typ.startswith("bg") and look.get("bag"):
            groups[f"BG: {look['bag']['kind']}"].append(score)
    return [(name, len(v), 100 * float(np.mean(v))) for name, v in sorted(groups.items())]


def report(args, runs: dict[Cell, dict]) -> str:
    lines = ["# Diagnosis of the synthetic benchmark (tuning populations)", "", "```",
             "python benchmarks/diagnose_benchmark.py --jobs 2   # or --cells <group>; --report-only rebuilds this",
             "```", "",
             f"Populations: {SMALL.subjects} subjects (14 train / 10 test ids; chance 10%), data seed {SMALL.seed}; "
             f"CASIA-B-sized {LARGE.subjects} subjects (74 / 50; chance 2%), seed {LARGE.seed}. Views "
             f"{SMALL.views}, {SMALL.frames} frames. Training seed = data seed, {ITERATIONS} iterations unless "
             "said, the study's settings (batch 4 x 3 x 12 frames; GaitGraph2 64 x 30). Rank-1 (%) with the "
             "identical view excluded; mAP (%) per view pair, averaged like rank-1.", ""]
    by_group = defaultdict(list)
    for cell, record in runs.items():
        by_group[cell.group].append((cell, record))
    order = ("keypoints", "normalisation", "training ids", "budget", "models", "pose branch", "pose recipe", "maps",
             "silhouettes", "error model v4", "error model v5", "real estimator", "real estimator: repairs",
             "real estimator: imgsz 640", "real estimator: baselines", "real estimator: transplant",
             "error model v6", "error model v6: parts", "error model v7", "sequence length")
    for group in sorted(by_group, key=lambda g: (order.index(g) if g in order else len(order), g)):
        lines += [f"## {group}", "", "| cell | model | NM | BG | CL | mean | mean mAP | CL / NM | seconds |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for cell, r in by_group[group]:
            cells_ = " | ".join(f"{value(r, c):.1f}" for c in (*CONDITIONS, "mean"))
            ratio = value(r, "CL") / max(value(r, "NM"), 1e-9)
            lines.append(f"| {cell.label} | {cell.model} | {cells_} | {value(r, 'mean', 'map'):.1f} | {ratio:.2f} | "
                         f"{r['seconds']:.0f} |")
        lines.append("")
        for cell, r in by_group[group]:
            wear = looks(cell.population, args.work)
            rows = garment_rows(r, wear) if cell.keep_probes else []
            if rows:
                lines += [f"{cell.model} rank-1 by what the probe wore (from each probe's score and the "
                          "generator's looks/):", "", "| probe | probes | rank-1 |", "| --- | --- | --- |"]
                lines += [f"| {name} | {n} | {v:.1f} |" for name, n, v in rows] + [""]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    setup_logging()
    todo = [c for c in cells() if c.group in args.groups]
    results = args.results / "diagnosis_runs"
    done: dict[Cell, dict] = {}
    if not args.report_only:
        threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
        start = time.time()
        specs = {}
        for cell in todo:                     # data first (shared by cells), in order
            specs[cell] = spec_for(cell, args.work)

        def do(cell):
            record = train_and_test(specs[cell], results, args.work / "runs", threads, args.overwrite)
            print(f"[{cell.group}] {cell.label} / {cell.model}: " + ", ".join(
                f"{c} {value(record, c):.1f}" for c in CONDITIONS) + f" ({record['seconds']:.0f} s)", flush=True)
            return cell, record
        with ThreadPoolExecutor(args.jobs) as pool:
            done.update(pool.map(do, todo))
        print(f"diagnosis: {len(todo)} cells in {(time.time() - start) / 60:.1f} min", flush=True)
    for cell in cells():                       # the report shows every cell with a run file
        if cell not in done:
            record = finished(results, spec_for(cell, args.work, build=False))
            if record is not None:
                done[cell] = record
    text = report(args, {c: done[c] for c in cells() if c in done})
    atomic_write_text(args.results / "diagnosis.md", text)
    write_json(args.results / "diagnosis.json", {c.name: {"cell": [c.group, c.label, c.model], "metrics": r["metrics"],
                                                        "seconds": r["seconds"]} for c, r in done.items()})
    print(f"diagnosis report -> {args.results / 'diagnosis.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
