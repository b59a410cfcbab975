"""Study v2's report (``benchmarks/run_clothing_study.py``): per model mean ± std over seeds,
paired differences with 95% Student-t intervals over seeds, the training loss in windows of the
schedule, the keypoint error model the data carry, and a figure -- all from the run files.
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from gaitcore.atomic_files import atomic_path, atomic_write_text
from study.design import AUGMENT, CONDITIONS
from study.design_v2 import (CASIA_PAIRS, CASIA_VARIANTS, CC_METRICS, CCVID_PAIRS, CCVID_VARIANTS, DLCR_VARIANT,
                             KEYPOINT_NOISE, run_spec)
from study.runs import REPO, finished, lr_steps
from study.stats import t_interval, verdict


def runs_folder(args, arm: str) -> Path:
    """Where an arm's run files live: ``<results>/clothing_study_runs/<arm>/``."""
    return Path(args.results) / "clothing_study_runs" / arm


def collect(args, arm: str, variants: dict) -> dict[str, dict[int, dict]]:
    """{model: {seed: record}} from the run files that match the current settings."""
    out = {}
    for name, variant in variants.items():
        for seed in args.seed_list:
            record = finished(runs_folder(args, arm), run_spec(args, arm, variant, seed))
            if record is not None:
                out.setdefault(name, {})[seed] = record
    return out


def casia_value(record: dict, cond: str) -> float:
    m = record["metrics"]
    return 100 * (np.mean([m[c] for c in CONDITIONS]) if cond == "mean" else m[cond])


def paired_rows(runs: dict, pairs, columns, value) -> list[dict]:
    rows = []
    for label, a, b in pairs:
        seeds = sorted(set(runs.get(a, {})) & set(runs.get(b, {})))
        if not seeds:
            continue
        row = {"comparison": label, "seeds": seeds}
        for col in columns:
            diffs = [value(runs[a][s], col) - value(runs[b][s], col) for s in seeds]
            mean, lo, hi = t_interval(diffs)
            row[col] = {"mean": round(mean, 2), "ci95": [round(lo, 2), round(hi, 2)], "per_seed": diffs,
                        "verdict": verdict(lo, hi)}
        rows.append(row)
    return rows


def cell(d: dict) -> str:
    lo, hi = d["ci95"]
    interval = "" if not np.isfinite(lo) else f" [{lo:+.1f}, {hi:+.1f}]"
    mark = {"better": " ▲", "worse": " ▼"}.get(d["verdict"], "")
    return f"{d['mean']:+.1f}{interval}{mark}"


def loss_windows(runs: dict) -> dict:
    """Mean logged training loss of one model over its seeds in five windows of the schedule
    (learning-rate steps at 2/3 and 9/10, as the runs use): the first tenth, two equal windows
    before the first step (close values there mean the loss had flattened at that rate), between
    the steps and after the second. Keys are the windows' bounds in iterations, "(lo, hi]"."""
    iterations = next(iter(runs.values()))["settings"]["iterations"]
    first, second = lr_steps(iterations)
    span = iterations // 5
    bounds = [(0, iterations // 10), (first - 2 * span, first - span), (first - span, first),
              (first, second), (second, iterations)]
    out = {}
    for lo, hi in bounds:
        values = [v for r in runs.values() for i, v in zip(r["loss_curve"]["iteration"], r["loss_curve"]["loss"])
                  if lo < i <= hi]
        out[f"({lo}, {hi}]"] = float(np.mean(values)) if values else None     # a window too short to log in
    return out


def report(args, argv: list[str]) -> dict:
    casia = collect(args, "casia_b", CASIA_VARIANTS) if "casia_b" in args.arms else {}
    ccvid = collect(args, "ccvid_aug", CCVID_VARIANTS) if "ccvid_aug" in args.arms else {}
    casia_cols = (*CONDITIONS, "mean")
    table = {m: {c: dict(zip(("mean", "lo", "hi"), t_interval([casia_value(r, c) for r in runs.values()])),
                     std=float(np.std([casia_value(r, c) for r in runs.values()], ddof=1)) if len(runs) > 1 else 0.0)
                 for c in casia_cols} | {"seeds": sorted(runs)} for m, runs in casia.items()}
    cc_table = {m: {k: float(np.mean([100 * r["metrics"][k] for r in runs.values()])) for k in CC_METRICS}
                | {"seeds": sorted(runs)} for m, runs in ccvid.items()}
    casia_pairs = paired_rows(casia, CASIA_PAIRS, casia_cols, casia_value)
    cc_pairs = paired_rows(ccvid, CCVID_PAIRS, CC_METRICS, lambda r, k: 100 * r["metrics"][k])
    seconds = sum(r["seconds"] for runs in (*casia.values(), *ccvid.values()) for r in runs.values())
    payload = {"command": " ".join(["python benchmarks/run_clothing_study.py", *argv]),
               "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "keypoint_noise": KEYPOINT_NOISE, "keypoint_noise_model": noise_model(),
               "augmentation": AUGMENT, "interval": "95% Student-t over seeds",
               "casia_b": {"table": table, "paired": casia_pairs},
               "ccvid_aug": {"table": cc_table, "paired": cc_pairs}, "run_seconds": round(seconds),
               "loss": {f"{arm}: {m}": loss_windows(runs) for arm, models in (("casia_b", casia), ("ccvid", ccvid))
                        for m, runs in models.items()}}
    args.results.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.results / "clothing_study.json", json.dumps(payload, indent=1) + "\n")
    write_markdown(args.results / "clothing_study.md", payload, args, casia, ccvid)
    write_figure(args.results / "clothing_study.png", table, casia, ccvid)
    return payload


def noise_model() -> dict:
    """The keypoint error model the runs' data carry: its parameters and, when the realism
    benchmark's results are there, how it compares with yolo11n-pose on the same walks."""
    from dataclasses import asdict

    from datasets_preprocess.synthetic.pose_error import parse_pose_error
    model = {"spec": KEYPOINT_NOISE, "parameters": asdict(parse_pose_error(KEYPOINT_NOISE))}
    realism = REPO / "benchmarks" / "results" / "synthetic_realism.json"
    if realism.exists():
        model["calibration_source"] = str(realism.relative_to(REPO))
        model["calibration"] = json.loads(realism.read_text()).get("calibration", {})
    return model


def noise_model_lines(model: dict) -> list[str]:
    params = ", ".join(f"{k} {v:g}" for k, v in model["parameters"].items() if not isinstance(v, bool))
    lines = ["## Keypoint error model", "",
             f"`--keypoint-noise {model['spec']}` (datasets_preprocess/synthetic/pose_error.py; distances in body "
             f"heights; each parameter is described there): {params}.", ""]
    if model.get("calibration"):
        lines += [f"Against yolo11n-pose on the same synthetic walks ({model['calibration_source']}, "
                  "`python benchmarks/bench_synthetic_realism.py`), real / model:", "",
                  "| condition | PCK@0.1 | median error | lost joints | swap frames |", "| --- | --- | --- | --- | --- |"]
        for cond, e in model["calibration"].items():
            lines.append(f"| {cond} | " + " | ".join(f"{e['real'][k]:.3f} / {e['model'][k]:.3f}"
                                                    for k in ("pck", "median_error", "lost", "swap_frames")) + " |")
        lines.append("")
    return lines


def write_markdown(path: Path, payload: dict, args, casia: dict, ccvid: dict) -> None:
    hours = payload["run_seconds"] / 3600
    lines = ["# Clothing-change study (synthetic data, paired design)", "", "```", payload["command"], "```", "",
             f"Run files: `{args.results / 'clothing_study_runs'}` (one JSON per run: settings, seeds, metrics, "
             f"loss curve, commit); the runs took {hours:.1f} h of training and evaluation in all "
             f"({platform.machine()}, {os.cpu_count()} CPU cores, no GPU).", "",
             f"Design: seeds {', '.join(map(str, args.seed_list))}; seed s draws its own synthetic population "
             "(data seed s) and trains every model with training seed s, so differences are paired within a "
             "seed. Intervals: 95% Student-t over seeds of the paired differences; an interval that contains "
             "0 is reported as 'no difference detected'. Keypoints carry the calibrated estimator error model "
             "(`--keypoint-noise estimator`: drift, bias, left/right swaps, joints lost or misplaced under "
             "coats and bags; parameters and calibration below).", ""]
    if casia:
        lines += [f"## CASIA-B layout: {args.subjects} subjects (60% train), views {args.views}, {args.frames} "
                  f"frames, {args.iterations} iterations per run (batch 4 x 3 x 12 frames, SGD 0.1, steps at "
                  "2/3 and 9/10; HybridGait clips the gradient norm at 5)", "",
                  "Rank-1 (%), identical view excluded, mean ± std over seeds:", "",
                  "| model | seeds | NM | BG | CL | mean |", "| --- | --- | --- | --- | --- | --- |"]
        for m, e in payload["casia_b"]["table"].items():
            lines.append(f"| {m} | {len(e['seeds'])} | " + " | ".join(
                f"{e[c]['mean']:.1f} ± {e[c]['std']:.1f}" for c in (*CONDITIONS, "mean")) + " |")
        lines += ["", "Paired differences in rank-1 points, mean [95% interval] (▲ / ▼: the interval excludes 0):", "",
                  "| comparison | seeds | NM | BG | CL | mean |", "| --- | --- | --- | --- | --- | --- |"]
        for row in payload["casia_b"]["paired"]:
            lines.append(f"| {row['comparison']} | {len(row['seeds'])} | " + " | ".join(
                cell(row[c]) for c in (*CONDITIONS, "mean")) + " |")
    if ccvid:
        lines += ["", f"## CCVID layout with clothing augmentation: {args.ccvid_subjects} subjects (half train), "
                  f"{args.ccvid_frames} frames per tracklet, {args.ccvid_iterations} iterations per run", "",
                  f"Oracle augmentation: {int(100 * AUGMENT['fraction'])}% of the training tracklets re-rendered "
                  f"in {args.ccvid_variants} outfits of other training identities (the same walk, camera and "
                  f"background: perfect inpainting), through crop_augmented_k5.py (k = {args.ccvid_variants}, "
                  "all variants kept), "
                  f"ccvid_aug/rearrange_to_grew.py and make_probe_gallery.py; augmented_share {AUGMENT['share']}. "
                  "SkeletonGait++ is HybridGait with its keypoint branch off, the attention gate and no UL "
                  "(identical to SkeletonGait++).", "",
                  f"{DLCR_VARIANT} (first seed only): the real DLCR stage 4 (diffusers' inpainting pipeline, "
                  "inpaint_clothes.py) with the tiny random model of dlcr/make_tiny_models.py, on the generator's "
                  "ground-truth garment masks and outfit prompts (a perfect stage 1-3), silhouettes of the "
                  "repainted frames by grabcut. It shows the path end to end; the repainted garments are noise, "
                  "so its numbers say nothing about what DLCR gains.", "",
                  "| model | seeds | general R1 | general mAP | CC R1 | CC mAP |", "| --- | --- | --- | --- | --- | --- |"]
        for m, e in payload["ccvid_aug"]["table"].items():
            lines.append(f"| {m} | {len(e['seeds'])} | " + " | ".join(f"{e[k]:.1f}" for k in CC_METRICS) + " |")
        lines += ["", "| comparison | seeds | general R1 | general mAP | CC R1 | CC mAP |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for row in payload["ccvid_aug"]["paired"]:
            lines.append(f"| {row['comparison']} | {len(row['seeds'])} | " + " | ".join(cell(row[k]) for k in CC_METRICS) + " |")
    lines += ["", "## Training loss", "",
              "Every run's curve is in clothing_study.png (one panel per model, one line per seed; the logged "
              "loss is the summed triplet and softmax loss of one batch every 1/40 of the run; dashed lines: the "
              "learning-rate steps). Mean logged loss over the seeds in windows of iterations: the first tenth, "
              "two equal windows before the first step (close values: the loss had flattened at that rate), "
              "between the steps, after the second:", ""]
    if payload["loss"]:
        windows = list(next(iter(payload["loss"].values())))
        lines += ["| model | " + " | ".join(windows) + " |", "| --- |" + " --- |" * len(windows)]
        for model, w in payload["loss"].items():
            lines.append(f"| {model} | " + " | ".join("–" if w[k] is None else f"{w[k]:.2f}" for k in windows) + " |")
        lines.append("")
    lines.append("")
    lines += noise_model_lines(payload["keypoint_noise_model"])
    atomic_write_text(path, "\n".join(lines))


def write_figure(path: Path, table: dict, casia: dict, ccvid: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("casia_b", m, runs) for m, runs in casia.items()] + [("ccvid", m, runs) for m, runs in ccvid.items()]
    if not panels:
        return
    cols = 4
    rows = 1 + (len(panels) + cols - 1) // cols
    fig = plt.figure(figsize=(3.2 * cols, 2.4 * rows))
    if table:
        ax = fig.add_subplot(rows, 1, 1)
        names = list(table)
        x = np.arange(len(names))
        for i, cond in enumerate(CONDITIONS):
            ax.bar(x + (i - 1) * 0.26, [table[n][cond]["mean"] for n in names], 0.26,
                   yerr=[table[n][cond]["std"] for n in names], capsize=2, label=cond)
        ax.set_xticks(x, [n.replace(" w/o ", "\nw/o ") for n in names], fontsize=7)
        ax.set_ylabel("rank-1 (%)")
        ax.set_ylim(0, 105)
        ax.legend(ncol=3, fontsize=7)
        ax.set_title("CASIA-B layout: rank-1, mean ± std over seeds", fontsize=9)
    for i, (arm, model, runs) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, cols + i + 1)
        for seed, r in sorted(runs.items()):
            ax.plot(r["loss_curve"]["iteration"], r["loss_curve"]["loss"], lw=0.8, label=f"seed {seed}")
            steps = lr_steps(r["settings"]["iterations"])
        for step in steps:
            ax.axvline(step, color="grey", lw=0.6, ls="--")
        ax.set_title(f"{arm}: {model}", fontsize=7)
        ax.tick_params(labelsize=6)
        if i % cols == 0:
            ax.set_ylabel("training loss", fontsize=7)
        if i >= len(panels) - cols:
            ax.set_xlabel("iteration (dashed: lr steps)", fontsize=7)
        if i == 0:
            ax.legend(fontsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
