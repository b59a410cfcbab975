"""The clothing-change study: which parts of HybridGait help, and does clothing augmentation help?

Two arms, both paired: within a seed every model sees the same synthetic population (the
seed is the data seed: each seed draws its own people), the same train/test split and the same
training seed (sampler, augmentation, initialisation):

- **casia_b**: on a synthetic CASIA-B-layout set with realistic keypoint error
  (``--keypoint-noise estimator``, calibrated against yolo11n-pose), eight models trained with
  one budget and evaluated with the CASIA-B protocol (NM / BG / CL rank-1):

      GaitBase, SkeletonGait++, HybridGait, HybridGait w/o cross-attn (the attention gate instead),
      w/o ΔJoint, w/o UL, w/o pose branch, Pose only

- **ccvid_aug**: on the synthetic CCVID layout (clothes-changing protocol), HybridGait and
  SkeletonGait++ trained with and without oracle clothing augmentation at DLCR's setting (25%
  of the training tracklets x 10 outfits of other identities, the same walk re-rendered by the
  generator = perfect inpainting, through the real ccvid_aug scripts; a quarter of each
  identity's K sequences per batch drawn from the augmented ones); general and CC rank-1 / mAP.

Reported: per model mean ± std over seeds, and the paired differences (each ablation -
HybridGait, HybridGait - SkeletonGait++, HybridGait - GaitBase; with - without augmentation)
with 95% t-intervals over seeds; an interval containing 0 is "no difference detected". Every finished
run leaves a small JSON (settings, seeds, metrics, loss curve, seconds) in
<results>/clothing_study_runs/<arm>/, which the study reuses -- so it resumes on a fresh clone,
and the report is rebuilt from those files. Data and run folders live in --work (not kept).

The pieces live in ``benchmarks/study/``: the design (``design_v2.py``), the populations
(``pipelines.py``), the runs and their reuse (``runs.py``), the statistics (``stats.py``) and
the report (``report_v2.py``); this file is the command line.

    python benchmarks/run_clothing_study.py                    # the full study (hours on 2 CPU cores; resumable)
    python benchmarks/run_clothing_study.py --jobs 2           # two runs at a time, one thread each
    python benchmarks/run_clothing_study.py --report-only      # rebuild the report from the run files
    python benchmarks/run_clothing_study.py --quick            # a smoke check (< 10 minutes)
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gaitcore.cli import run_script, setup_logging
from study.design import AUGMENT, CONDITIONS
from study.design_v2 import (CASIA_VARIANTS, CC_METRICS, CCVID_VARIANTS, DLCR_VARIANT, FULL, KEYPOINT_NOISE, QUICK,
                             STUDY_V2_MODELS, run_spec)
from study.pipelines import (CcvidPopulation, Population, ccvid_preprocessed, dlcr_preprocessed, preprocessed)
from study.report_v2 import report, runs_folder
from study.runs import finished, train_and_test




def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="reduced study for a smoke check (< 10 minutes)")
    p.add_argument("--arms", help="comma-separated: casia_b, ccvid_aug (default both)")
    p.add_argument("--models", help="casia_b arm: comma-separated subset of: " + ", ".join(CASIA_VARIANTS)
                   + " (default: study v2's " + ", ".join(STUDY_V2_MODELS) + ")")
    p.add_argument("--seeds", help=f"comma-separated seeds, each a data seed and a training seed "
                                   f"(default {FULL['seeds']}; quick {QUICK['seeds']})")
    p.add_argument("--subjects", type=int, help=f"casia_b identities (default {FULL['subjects']}); 60%% train")
    p.add_argument("--views", help=f"casia_b view angles (default {FULL['views']})")
    p.add_argument("--frames", type=int, help=f"casia_b frames per sequence (default {FULL['frames']})")
    p.add_argument("--iterations", type=int, help=f"casia_b training iterations (default {FULL['iterations']})")
    p.add_argument("--ccvid-subjects", type=int, help=f"ccvid identities (default {FULL['ccvid_subjects']}); half train")
    p.add_argument("--ccvid-frames", type=int, help=f"ccvid frames per tracklet (default {FULL['ccvid_frames']})")
    p.add_argument("--ccvid-iterations", type=int, help=f"ccvid training iterations (default {FULL['ccvid_iterations']})")
    p.add_argument("--ccvid-variants", type=int, default=AUGMENT["variants"],
                   help=f"ccvid: outfits per augmented training tracklet, oracle and DLCR alike (default "
                        f"{AUGMENT['variants']}, DLCR's; fewer make a quicker smoke run)")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time; each gets cores/jobs threads (default 1)")
    p.add_argument("--work", help="data and run folders (default output/clothing_study, quick: output/clothing_study_quick)")
    p.add_argument("--results", help="report and run files (default benchmarks/results; quick: <work>)")
    p.add_argument("--no-dlcr", action="store_true",
                   help="skip the one-seed run through the real DLCR stage 4 with a tiny random model "
                        "(always skipped with --quick)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from the run files")
    p.add_argument("--overwrite", action="store_true", help="retrain runs whose result file exists")
    args = p.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.no_dlcr = args.no_dlcr or args.quick
    args.work = Path(args.work or ("output/clothing_study_quick" if args.quick else "output/clothing_study"))
    args.results = Path(args.results or (args.work if args.quick else "benchmarks/results"))
    args.models = args.models or (",".join(["SkeletonGait++", "HybridGait", "HybridGait w/o UL"]) if args.quick
                                  else ",".join(STUDY_V2_MODELS))
    unknown = [m for m in args.models.split(",") if m not in CASIA_VARIANTS]
    if unknown:
        p.error(f"--models: unknown {', '.join(unknown)} (known: {', '.join(CASIA_VARIANTS)})")
    bad_arms = [a for a in args.arms.split(",") if a not in ("casia_b", "ccvid_aug")]
    if bad_arms:
        p.error(f"--arms: unknown {', '.join(bad_arms)} (known: casia_b, ccvid_aug)")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds {args.seeds!r}: expected comma-separated integers")
    if args.jobs < 1 or min(args.iterations, args.ccvid_iterations) < 4:
        p.error("--jobs must be >= 1 and the iterations >= 4")
    if args.ccvid_variants < 1:
        p.error("--ccvid-variants must be >= 1")
    return args


def casia_population(args, seed: int) -> Population:
    return Population(seed=seed, subjects=args.subjects, views=args.views, frames=args.frames,
                      keypoint_noise=KEYPOINT_NOISE)


def ccvid_population(args, seed: int) -> CcvidPopulation:
    return CcvidPopulation(seed=seed, subjects=args.ccvid_subjects, frames=args.ccvid_frames,
                           keypoint_noise=KEYPOINT_NOISE, augment_fraction=AUGMENT["fraction"],
                           augment_variants=args.ccvid_variants)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    setup_logging()
    if not args.report_only:
        start = time.time()
        cores = os.cpu_count() or 1
        threads = max(1, cores // args.jobs)
        tasks = []
        for seed in args.seed_list:
            if "casia_b" in args.arms:
                tasks += [("casia_b", CASIA_VARIANTS[m], seed) for m in args.models.split(",")]
            if "ccvid_aug" in args.arms:
                tasks += [("ccvid_aug", v, seed) for v in CCVID_VARIANTS.values()
                          if v.name != DLCR_VARIANT or (seed == args.seed_list[0] and not args.no_dlcr)]
        todo = [t for t in tasks if args.overwrite or finished(runs_folder(args, t[0]), run_spec(args, *t)) is None]
        print(f"clothing study: {len(tasks)} runs, {len(tasks) - len(todo)} finished already; "
              f"{args.jobs} at a time with {threads} thread(s) each", flush=True)
        data: dict[tuple[str, int], Path] = {}

        def do(task):
            arm, variant, seed = task
            source = data[("dlcr", seed)] if variant.name == DLCR_VARIANT else data[(arm, seed)]
            record = train_and_test(run_spec(args, arm, variant, seed, source), runs_folder(args, arm),
                                    args.work / "runs" / arm, threads, args.overwrite)
            summary = ", ".join(f"{k.split('/')[-2] + ' ' if '/' in k else ''}{k.split('/')[-1]} {100 * v:.1f}"
                                for k, v in record["metrics"].items() if k in (*CONDITIONS, *CC_METRICS))
            print(f"[{arm}] {variant.name} seed {seed}: {summary} ({record['seconds']:.0f} s)", flush=True)
            return record
        for seed in args.seed_list:                       # seed by seed: results arrive in a useful order
            batch = [t for t in todo if t[2] == seed]
            for arm in sorted({t[0] for t in batch}):
                data[(arm, seed)] = (preprocessed(casia_population(args, seed), args.work) if arm == "casia_b"
                                     else ccvid_preprocessed(ccvid_population(args, seed), args.work))
            if any(t[1].name == DLCR_VARIANT for t in batch):
                data[("dlcr", seed)] = dlcr_preprocessed(ccvid_population(args, seed), args.work)
            with ThreadPoolExecutor(args.jobs) as pool:
                list(pool.map(do, batch))
        print(f"clothing study: {len(todo)} runs trained in {(time.time() - start) / 60:.1f} min", flush=True)
    payload = report(args, argv)
    print(f"clothing study report ({payload['run_seconds'] / 3600:.1f} h of runs) -> {args.results / 'clothing_study.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(lambda a: main(a, sys.argv[1:]), parse_args()))
