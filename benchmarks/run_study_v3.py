"""Study v3: does HybridGait's pose path help under clothing change, on the calibrated benchmark?

Design (benchmarks/study/design.py): P populations (data seeds 1000, 1001, ...; CASIA-B-sized,
wardrobe v3, keypoints with the estimator_v3 error model) x T training seeds (0 .. T-1); on each
(population, training seed) every model trains with the same budget and is tested with the
CASIA-B protocol (rank-1 and mAP per condition). An augmentation arm does the same on a CCVID-layout
population with and without the oracle clothing augmentation (DLCR's 25% x 10).

The analysis (benchmarks/study/analysis.py) was committed before any confirmatory run: paired
differences over populations, Holm's correction for single-condition claims, the variance split
into population and training-seed parts, the effect detectable at 80% power.

    python benchmarks/run_study_v3.py --phase pilot --jobs 2         # tuning populations: the sizing
    python benchmarks/run_study_v3.py --populations 8 --train-seeds 2 --jobs 2
    python benchmarks/run_study_v3.py --report-only --populations 8 --train-seeds 2

Every run is a JSON in <results>/study_v3_runs/<arm>/ (reused when its settings match), so the
study resumes on a fresh clone; the report is rebuilt from the run files.
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
from study import design as d
from study.analysis import Runs, compare, metric_value, part_verdicts, per_condition_claims, variance_shares
from study.pipelines import (CcvidPopulation, Population, ccvid_preprocessed, ccvid_work_folder, preprocessed,
                             work_folder, write_json)
from study.runs import REPO, RunSpec, finished, schedule_sets, train_and_test
from study.stats import halving_count, populations_needed

PILOT_MODELS = ("GaitBase", "SkeletonGait++", "HybridGait")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phase", choices=("pilot", "confirm"), default="confirm",
                   help="pilot: the tuning populations that size the study; confirm: the study (default)")
    p.add_argument("--populations", type=int, default=8, help="confirm: populations P (default 8)")
    p.add_argument("--train-seeds", type=int, default=2, help="training seeds T per population (default 2)")
    p.add_argument("--arms", default="casia_b,ccvid_aug", help="casia_b, ccvid_aug (default both)")
    p.add_argument("--models", help="casia_b models (default: every model of the design; pilot: "
                                    + ", ".join(PILOT_MODELS) + ")")
    p.add_argument("--iterations", type=int, default=d.ITERATIONS, help=f"training iterations (default {d.ITERATIONS})")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time; each gets cores/jobs threads (default 1)")
    p.add_argument("--work", default="output/study_v3", help="data and run folders (default output/study_v3)")
    p.add_argument("--results", default="benchmarks/results", help="report and run files (default benchmarks/results)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from the run files")
    p.add_argument("--overwrite", action="store_true", help="retrain runs whose result file exists")
    args = p.parse_args(argv)
    args.arm_list = args.arms.split(",")
    default = PILOT_MODELS if args.phase == "pilot" else tuple(d.CASIA_MODELS)
    args.model_list = args.models.split(",") if args.models else list(default)
    unknown = [m for m in args.model_list if m not in d.CASIA_MODELS] + \
        [a for a in args.arm_list if a not in ("casia_b", "ccvid_aug")]
    if unknown or min(args.populations, args.train_seeds, args.jobs) < 1 or args.iterations < 4:
        p.error(f"unknown {', '.join(unknown)}" if unknown else "counts must be >= 1")
    if args.phase == "pilot":
        args.arm_list = ["casia_b"]
    args.population_seeds = (list(d.PILOT_SEEDS) if args.phase == "pilot"
                             else [d.POPULATION_SEED_BASE + i for i in range(args.populations)])
    args.work, args.results = Path(args.work), Path(args.results)
    args.prefix = "study_v3_pilot" if args.phase == "pilot" else "study_v3"
    return args


def casia_spec(args, model: str, pop_seed: int, train_seed: int, build: bool) -> RunSpec:
    pop = Population(seed=pop_seed, **d.CASIA_GENERATOR)
    data = preprocessed(pop, args.work) if build else work_folder(pop, args.work)
    v = d.CASIA_MODELS[model]
    name = "".join(c if c.isalnum() else "_" for c in f"{model}_pop{pop_seed}_train{train_seed}".replace("Δ", "delta"))
    return RunSpec(name, v.config, data, "casia_b.json",
                   (*v.sets, *schedule_sets(v.config, args.iterations), "evaluator_cfg.view_pair_map=true"),
                   seed=train_seed, iterations=args.iterations,
                   settings={"arm": "casia_b", "model": model, "population": pop.describe()})


def ccvid_spec(args, model: str, pop_seed: int, train_seed: int, build: bool) -> RunSpec:
    pop = CcvidPopulation(seed=pop_seed, **d.CCVID_GENERATOR, augment_fraction=d.AUGMENT["fraction"],
                          augment_variants=d.AUGMENT["variants"])
    data = ccvid_preprocessed(pop, args.work) if build else ccvid_work_folder(pop, args.work)
    v = d.CCVID_MODELS[model]
    sets = (*v.sets, *schedule_sets(v.config, args.iterations))
    partition = "ccvid.json"
    if v.augmented:
        partition = "ccvid_aug.json"
        sets += (f"trainer_cfg.sampler.augmented_share={d.AUGMENT['share']}",)
    name = "".join(c if c.isalnum() else "_" for c in f"{model}_pop{pop_seed}_train{train_seed}")
    return RunSpec(name, v.config, data, partition, sets, seed=train_seed, iterations=args.iterations,
                   settings={"arm": "ccvid_aug", "model": model, "population": pop.describe(),
                             "augmentation": d.AUGMENT}, main="opengait_ccvid/main.py")


def tasks(args) -> list[tuple[str, str, int, int]]:
    out = []
    for pop_seed in args.population_seeds:
        for train_seed in range(args.train_seeds):
            if "casia_b" in args.arm_list:
                out += [("casia_b", m, pop_seed, train_seed) for m in args.model_list]
            if "ccvid_aug" in args.arm_list:
                out += [("ccvid_aug", m, pop_seed, train_seed) for m in d.CCVID_MODELS]
    return out


def spec_of(args, task, build: bool) -> RunSpec:
    arm, model, pop_seed, train_seed = task
    return (casia_spec if arm == "casia_b" else ccvid_spec)(args, model, pop_seed, train_seed, build)


def collect(args) -> dict[str, Runs]:
    runs: dict[str, Runs] = {"casia_b": {}, "ccvid_aug": {}}
    for task in tasks(args):
        record = finished(args.results / f"{args.prefix}_runs" / task[0], spec_of(args, task, build=False))
        if record is not None:
            runs[task[0]].setdefault(task[1], {})[(task[2], task[3])] = record
    return runs


def cell(p) -> str:
    if not np.isfinite(p.lo):
        return f"{p.mean:+.1f}"
    return f"{p.mean:+.1f} [{p.lo:+.1f}, {p.hi:+.1f}]"


def casia_tables(runs: Runs) -> tuple[list[str], dict]:
    metrics = ("NM", "BG", "CL", "mean", "mean-mAP")
    lines = ["| model | runs | NM | BG | CL | mean | mean mAP |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for model, by_key in runs.items():
        vals = {m: [metric_value(r, m) for r in by_key.values()] for m in metrics}
        lines.append(f"| {model} | {len(by_key)} | " + " | ".join(
            f"{np.mean(v):.1f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.1f}" for v in vals.values()) + " |")
    rows = compare(runs, d.CASIA_PAIRS, metrics)
    claims = per_condition_claims(rows, d.CONDITIONS)
    lines += ["", "Paired differences (points), mean [95% interval over populations]; per-condition cells "
              "marked * hold after Holm's correction over every comparison x condition:", "",
              "| comparison | populations x seeds | NM | BG | CL | mean | mean mAP | detectable (CL / mean) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        any_metric = next(iter(v for k, v in r.items() if k in metrics))
        marks = {c: "*" if claims.get(f"{r['comparison']} | {c}", {}).get("reject") else "" for c in d.CONDITIONS}
        cells_ = [cell(r[m]) + marks.get(m, "") if m in r else "–" for m in metrics]
        detect = f"{r['CL'].detectable:.1f} / {r['mean'].detectable:.1f}" if "CL" in r and "mean" in r else "–"
        lines.append(f"| {r['comparison']} | {any_metric.populations} x {any_metric.seeds_per_population:g} | "
                     + " | ".join(cells_) + f" | {detect} |")
    parts = part_verdicts(rows, d.PARTS, d.CONDITIONS)
    if parts:
        lines += ["", "| part (HybridGait - without it, mean rank-1) | verdict | Holm p | switch off in the "
                  "shipped configs |", "| --- | --- | --- | --- |"]
        lines += [f"| {k} | {v['verdict']} | {v['p_holm']:.3f} | {'yes' if v['switch_off'] else 'no'} |"
                  for k, v in parts.items()]
    shares = variance_shares(rows, "mean")
    if shares:
        lines += ["", "Variance of one run's difference (mean rank-1): population / training-seed share:", "",
                  "| comparison | population | training seed |", "| --- | --- | --- |"]
        lines += [f"| {k} | {p:.0%} | {t:.0%} |" for k, (p, t) in shares.items()]
    payload = {"rows": [{"comparison": r["comparison"], **{m: vars(r[m]) for m in metrics if m in r}} for r in rows],
               "holm": claims, "parts": parts, "variance_shares": shares}
    return lines, payload


def ccvid_tables(runs: Runs) -> tuple[list[str], dict]:
    lines = ["| model | runs | CC R1 | CC mAP | general R1 | general mAP |", "| --- | --- | --- | --- | --- | --- |"]
    for model, by_key in runs.items():
        lines.append(f"| {model} | {len(by_key)} | " + " | ".join(
            f"{np.mean([metric_value(r, k) for r in by_key.values()]):.1f}" for k in d.CCVID_METRICS) + " |")
    rows = compare(runs, d.CCVID_PAIRS, d.CCVID_METRICS)
    lines += ["", "| comparison | CC R1 | CC mAP | general R1 | general mAP |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['comparison']} | " + " | ".join(cell(r[k]) if k in r else "–" for k in d.CCVID_METRICS) + " |"
              for r in rows]
    return lines, {"rows": [{"comparison": r["comparison"], **{k: vars(r[k]) for k in d.CCVID_METRICS if k in r}}
                            for r in rows]}


def pilot_sizing(runs: Runs, train_seeds: int) -> tuple[list[str], dict]:
    """The populations needed for the target effects, from the pilot's spread of population means."""
    rows = compare(runs, d.PRIMARY + [("SkeletonGait++ - GaitBase", "SkeletonGait++", "GaitBase")], ("CL", "mean"))
    lines = ["| comparison | metric | pilot populations x seeds | sd of population means | target | populations "
             "needed (80% power) |", "| --- | --- | --- | --- | --- | --- |"]
    out = {}
    for r in rows:
        for metric, effect in d.TARGET_EFFECT.items():
            p = r[metric]
            need = populations_needed(p.sd_population_means, effect)
            out[f"{r['comparison']} | {metric}"] = {"sd": p.sd_population_means, "needed": need,
                                                    "var_population": p.var_population,
                                                    "var_training": p.var_training}
            lines.append(f"| {r['comparison']} | {metric} | {p.populations} x {p.seeds_per_population:g} | "
                         f"{p.sd_population_means:.2f} | {effect:+.1f} | {need} |")
    return lines, out


def report(args, argv) -> None:
    runs = collect(args)
    seconds = sum(r["seconds"] for arm in runs.values() for by in arm.values() for r in by.values())
    lines = [f"# Study v3{' pilot' if args.phase == 'pilot' else ''}", "", "```",
             "python benchmarks/run_study_v3.py " + " ".join(argv), "```", "",
             f"Populations (data seeds) {', '.join(map(str, args.population_seeds))} x training seeds "
             f"0..{args.train_seeds - 1}; {args.iterations} iterations per run; {seconds / 3600:.1f} h of runs. "
             "CASIA-B layout: " + ", ".join(f"{k} {v}" for k, v in d.CASIA_GENERATOR.items()) + ".", ""]
    payload = {"command": " ".join(["python benchmarks/run_study_v3.py", *argv]), "run_seconds": round(seconds)}
    if runs["casia_b"]:
        table, payload["casia_b"] = casia_tables(runs["casia_b"])
        lines += ["## CASIA-B layout: rank-1 (%) and mAP (%), mean ± sd over runs", ""] + table + [""]
        if args.phase == "pilot":
            sizing, payload["sizing"] = pilot_sizing(runs["casia_b"], args.train_seeds)
            lines += ["## Sizing", "", f"Each population averaged over {args.train_seeds} training seeds; the "
                      "number of such populations a paired t-interval needs to detect the target effect with 80% "
                      "power (two-sided 5%).", ""] + sizing + [""]
    if runs["ccvid_aug"]:
        table, payload["ccvid_aug"] = ccvid_tables(runs["ccvid_aug"])
        lines += ["## Augmentation arm (CCVID layout)", ""] + table + [""]
    if args.phase == "confirm" and runs["casia_b"]:
        lines += [f"Halving these intervals would take {halving_count(len(args.population_seeds))} populations "
                  f"instead of {len(args.population_seeds)} (the t quantile shrinks too).", ""]
    atomic_write_text(args.results / f"{args.prefix}.md", "\n".join(lines) + "\n")
    write_json(args.results / f"{args.prefix}.json", payload)
    print(f"study v3 report -> {args.results / (args.prefix + '.md')}")


def main(args: argparse.Namespace, argv: list[str]) -> int:
    setup_logging()
    if not args.report_only:
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        todo = tasks(args)
        print(f"study v3 ({args.phase}): {len(todo)} runs; {args.jobs} at a time with {threads} thread(s) each",
              flush=True)
        start = time.time()
        for pop_seed in args.population_seeds:          # population by population: results arrive in order
            batch = [t for t in todo if t[2] == pop_seed]
            specs = {t: spec_of(args, t, build=True) for t in batch}

            def do(task):
                results = args.results / f"{args.prefix}_runs" / task[0]
                record = train_and_test(specs[task], results, args.work / "runs", threads, args.overwrite)
                print(f"[{task[0]}] {task[1]} population {task[2]} seed {task[3]}: "
                      + ", ".join(f"{k} {100 * v:.1f}" for k, v in record["metrics"].items() if "/" in k or len(k) == 2)
                      + f" ({record['seconds']:.0f} s{', reused' if record.get('reused') else ''})", flush=True)
            with ThreadPoolExecutor(args.jobs) as pool:
                list(pool.map(do, batch))
        print(f"study v3: {len(todo)} runs in {(time.time() - start) / 60:.1f} min", flush=True)
    report(args, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(lambda a: main(a, sys.argv[1:]), parse_args()))
