"""Generate procedural walking people in the raw layout of CASIA-B, CCVID or GREW.

Each subject is a 3D articulated body with its own build and gait (cadence, stride, arm swing,
knee/hip profiles, asymmetry, lean, head bob ...), walking a straight line seen by cameras at
CASIA-B-style view angles (0 = front, 90 = side, 180 = back). Sequences wear normal clothes
(nm), carry a bag (bg) or wear a coat (cl); RGB frames, exact silhouettes (with edge noise)
and ground-truth COCO-17 keypoints are written in the same layout as the real dataset, so the
real preprocessing scripts run on them unchanged. Same seed -> byte-identical files.
What every walk wears is recorded in looks/ (casia_b: looks/<sid>-<type>.json, ccvid:
looks/session<k>/<pid>.json). --wardrobe v3 dresses the same walks in richer clothes: coats
from hip-length jackets to long coats below the knee (some hooded or with a high collar),
hats, wide trousers, skirts and dresses, handbags, totes and suitcases.

examples:
  python datasets_preprocess/synthetic/make_synthetic_gait.py --layout casia_b --out data/synthetic_casia_b
  python datasets_preprocess/synthetic/make_synthetic_gait.py --layout ccvid --subjects 10 --out data/synthetic_ccvid
  python datasets_preprocess/synthetic/make_synthetic_gait.py --layout grew --subjects 12 --out data/synthetic_grew
  python datasets_preprocess/synthetic/make_synthetic_gait.py --wardrobe v3 --out data/synthetic_casia_b_v3
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from gaitcore.atomic_files import atomic_write_text
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.parallel import default_workers, parallel_map
from datasets_preprocess.synthetic import raw_layouts as rl
from datasets_preprocess.synthetic.appearance import WARDROBES
from datasets_preprocess.synthetic.pose_error import parse_pose_error
from datasets_preprocess.synthetic.walker_sequences import subject_profile

log = logging.getLogger("make_synthetic_gait")

DEFAULTS = {  # per layout: subjects, frames, views
    "casia_b": (8, 30, ",".join(rl.CASIA_VIEWS)),
    "ccvid": (10, 32, ",".join(rl.CCVID_VIEWS)),
    "grew": (12, 36, ""),
}
OUTPUT_ENTRIES = ("videos", "silhouettes", "poses", "masks", "train", "test", "train.txt", "query.txt",
                  "gallery.txt", "outfit_prompts.jsonl", "synthetic_probe_labels.csv", "subjects.json", "README.md",
                  "oracle_inpainted", "oracle_masks", "oracle_clothes_masks", "poses_exact", "looks")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layout", choices=rl.LAYOUTS, default="casia_b",
                   help="raw layout to write (default casia_b)")
    p.add_argument("--out", help="output folder (default data/synthetic_<layout>)")
    p.add_argument("--subjects", type=int,
                   help="number of identities (default: casia_b 8, ccvid 10, grew 12)")
    p.add_argument("--views", help="comma-separated view angles in degrees, 0-180 "
                                   "(default: casia_b all 11 CASIA-B views; ccvid 000,036,144,180 "
                                   "= cameras 01-04; grew draws a random angle per sequence)")
    p.add_argument("--types", default=",".join(rl.CASIA_TYPES),
                   help="casia_b sequence types (default nm-01..06,bg-01,bg-02,cl-01,cl-02)")
    p.add_argument("--frames", type=int,
                   help="frames per sequence (default: casia_b 30, ccvid 32, grew 36 +-25%%)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--missing-frame-rate", type=float, default=0.02,
                   help="share of frames whose silhouette/crop is missing (default 0.02)")
    p.add_argument("--broken-frame-rate", type=float, default=0.01,
                   help="share of frames whose silhouette/crop is damaged (default 0.01)")
    p.add_argument("--sil-edge-noise", type=float, default=0.15,
                   help="share of silhouette-edge pixels flipped (default 0.15)")
    p.add_argument("--pose-noise", type=float, default=1.0,
                   help="per-frame joint-angle noise in degrees (default 1.0)")
    p.add_argument("--keypoint-noise", default="none",
                   help="error model of the written keypoints (casia_b, ccvid): none (default: exact "
                        "ground truth); a number: i.i.d. error of that std in body heights per joint and "
                        "frame (the first version's model); estimator: structured error calibrated "
                        "against yolo11n-pose (drift, bias, left/right swaps, joints lost or misplaced "
                        "under coats and bags), estimator,name=value,... to change a parameter "
                        "(datasets_preprocess/synthetic/pose_error.py)")
    p.add_argument("--wardrobe", choices=WARDROBES, default="v2",
                   help="the clothes the walkers wear: v2 (default; the first wardrobe, byte for byte: one "
                        "kind of coat ending mid-thigh, backpack or shoulder bag, trousers or shorts) or v3 "
                        "(the same walks and keypoints, richer clothes: a bulky jacket ending at the hips, a "
                        "mid-thigh coat or a long flared coat below the knee, some with a hood or a high "
                        "collar; caps, beanies and wide-brim hats; wide trousers, skirts and dresses; "
                        "backpacks of more sizes, shoulder bags, handbags in one hand, totes at the hip and "
                        "suitcases pulled behind) or v4 (v3's garments at CASIA-B-like shares: mostly jackets and "
                        "mid-thigh coats, few long coats and hoods, mostly backpacks and shoulder bags, no "
                        "suitcases; benchmarks/calibrate_benchmark.py). What each walk wears is written to "
                        "looks/")
    p.add_argument("--sessions", type=int, default=3, help="ccvid: sessions per person (default 3)")
    p.add_argument("--augment-fraction", type=float, default=0.25,
                   help="ccvid with --augment-variants: share of the training tracklets re-dressed (default "
                        "0.25, DLCR's setting)")
    p.add_argument("--augment-variants", type=int, default=0,
                   help="ccvid: oracle clothing augmentation -- re-render that many variants of a chosen "
                        "training tracklet in other training identities' outfits (perfect inpainting) into "
                        "oracle_inpainted/ (DLCR stage 4's layout, read by ccvid_aug/crop_augmented_k5.py) "
                        "and oracle_masks/ (default 0: none; DLCR makes 10). The garment masks of the "
                        "training crops (stage 3's layout) are always written to oracle_clothes_masks/")
    p.add_argument("--sequences-per-subject", type=int, default=4,
                   help="grew: sequences per identity (default 4: test ids get 2 gallery + 2 probe)")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="worker processes (default: all cores)")
    p.add_argument("--overwrite", action="store_true",
                   help="regenerate everything (deletes this generator's earlier output in --out)")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> rl.GenerationConfig:
    subjects, frames, views = DEFAULTS[args.layout]
    subjects = args.subjects if args.subjects is not None else subjects
    frames = args.frames if args.frames is not None else frames
    views = args.views if args.views is not None else views
    try:
        view_list = tuple(f"{int(v):03d}" for v in views.split(",") if v.strip())
    except ValueError:
        raise UserInputError(f"--views {views!r}: expected comma-separated whole angles such as 000,090") from None
    types = tuple(t.strip() for t in args.types.split(",") if t.strip())
    if subjects < 1 or frames < 2:
        raise UserInputError("--subjects must be >= 1 and --frames >= 2")
    if any(not 0 <= int(v) <= 180 for v in view_list):
        raise UserInputError(f"--views must be angles between 0 and 180, got {views!r}")
    if args.layout != "grew" and not view_list:
        raise UserInputError("--views is empty")
    bad = [t for t in types if t.split("-")[0] not in ("nm", "bg", "cl")
           or not t.split("-")[-1].isdigit()]
    if args.layout == "casia_b" and bad:
        raise UserInputError(f"--types: {', '.join(bad)} are not CASIA-B types like nm-01, bg-02, cl-01")
    for name in ("missing_frame_rate", "broken_frame_rate", "sil_edge_noise"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise UserInputError(f"--{name.replace('_', '-')} must be between 0 and 1")
    try:
        model = parse_pose_error(args.keypoint_noise)
    except ValueError as e:
        raise UserInputError(str(e)) from None
    if model.needs_population():
        raise UserInputError(f"--keypoint-noise {args.keypoint_noise}: its pull towards the other walkers needs "
                             "the whole population; generate with a model without it (e.g. estimator_v5) and "
                             "apply this one with datasets_preprocess/synthetic/apply_keypoint_error.py")
    if args.augment_variants < 0 or not 0.0 < args.augment_fraction <= 1.0:
        raise UserInputError("--augment-variants must be >= 0 and --augment-fraction in (0, 1]")
    if args.augment_variants and args.layout != "ccvid":
        raise UserInputError("--augment-variants is for --layout ccvid")
    if args.layout == "ccvid" and args.sessions < 1:
        raise UserInputError("--sessions must be >= 1")
    if args.layout == "grew" and args.sequences_per_subject < 2:
        raise UserInputError("--sequences-per-subject must be >= 2 for grew")
    return rl.GenerationConfig(
        layout=args.layout, subjects=subjects, views=view_list if args.layout != "grew" else (),
        types=types if args.layout == "casia_b" else (), frames=frames, seed=args.seed,
        missing_frame_rate=args.missing_frame_rate, broken_frame_rate=args.broken_frame_rate,
        edge_noise=args.sil_edge_noise, pose_noise_deg=args.pose_noise,
        sessions=args.sessions if args.layout == "ccvid" else 0,
        sequences_per_subject=args.sequences_per_subject if args.layout == "grew" else 0,
        keypoint_noise=canonical_spec(args.keypoint_noise) if args.layout != "grew" else 0.0,
        augment_fraction=args.augment_fraction if args.augment_variants else 0.0,
        augment_variants=args.augment_variants, wardrobe=args.wardrobe)


def canonical_spec(spec: str) -> float | str:
    """A number stays a number (as earlier generation.json records store it); "none" is 0."""
    try:
        return float(spec)
    except ValueError:
        return 0.0 if spec.strip() == "none" else spec.strip()


def prepare_output(out: Path, config: rl.GenerationConfig, overwrite: bool) -> None:
    """Refuse to mix two different datasets in one folder; clear our own output on --overwrite."""
    record = out / "generation.json"
    if record.exists():
        try:
            previous = json.loads(record.read_text())["config"]
        except (ValueError, KeyError) as e:
            raise UserInputError(f"{record}: unreadable ({e}); remove it or pick another --out")
        if overwrite:
            for name in list(OUTPUT_ENTRIES) + [p.name for p in out.glob("session*")]:
                target = out / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        elif previous != config.summary():
            changed = sorted(k for k in previous.keys() | config.summary().keys()
                             if previous.get(k) != config.summary().get(k))
            raise UserInputError(f"{out} holds a dataset made with other options "
                                 f"({', '.join(changed)}); pass --overwrite or pick another --out")
    elif out.exists() and any(out.iterdir()):
        raise UserInputError(f"{out} is not empty and was not made by this generator; "
                             "pick another --out")
    write_record(out, config, "incomplete", Counter(), [])


def write_record(out: Path, config: rl.GenerationConfig, status: str, stats: Counter,
                 argv: list[str]) -> None:
    doc = {"status": status, "config": config.summary(), "counts": dict(sorted(stats.items())),
           "command": " ".join(["python", "datasets_preprocess/synthetic/make_synthetic_gait.py",
                                *argv])}
    atomic_write_text(out / "generation.json", json.dumps(doc, indent=2) + "\n")


def write_subjects(out: Path, config: rl.GenerationConfig) -> None:
    subjects = {}
    for s in range(1, config.subjects + 1):
        profile = subject_profile(config.seed, s)
        subjects[f"{s:03d}"] = profile.identity.as_dict()
    atomic_write_text(out / "subjects.json", json.dumps(subjects, indent=1) + "\n")


def write_summary(out: Path, config: rl.GenerationConfig, stats: Counter, seconds: float,
                  argv: list[str]) -> None:
    lines = [f"# Synthetic {config.layout} dataset", "",
             "Procedural walkers made by `datasets_preprocess/synthetic/make_synthetic_gait.py`.",
             "A controlled benchmark, not a substitute for real data.", "",
             "```", "python datasets_preprocess/synthetic/make_synthetic_gait.py " + " ".join(argv),
             "```", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in config.summary().items()]
    lines += ["", "| count | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in sorted(stats.items())]
    lines += ["", f"Generated in {seconds:.1f} s.", ""]
    atomic_write_text(out / "README.md", "\n".join(lines))


def main(args: argparse.Namespace) -> int:
    setup_logging()
    config = build_config(args)
    out = Path(args.out or f"data/synthetic_{config.layout}")
    out.mkdir(parents=True, exist_ok=True)
    prepare_output(out, config, args.overwrite)
    argv = sys.argv[1:]
    make_jobs, run_job = rl.JOB_BUILDERS[config.layout]
    jobs = make_jobs(config, out, args.overwrite)
    start = time.time()
    stats = Counter()
    for result in parallel_map(run_job, jobs, args.workers, desc=f"synthetic {config.layout}",
                               unit="walk"):
        stats.update(result)
    if config.layout == "ccvid":
        for name, lines in rl.ccvid_split_lines(config, out).items():
            atomic_write_text(out / f"{name}.txt", "".join(line + "\n" for line in lines))
            stats[f"{name}_tracklets"] = len(lines)
        atomic_write_text(out / "outfit_prompts.jsonl", "".join(
            json.dumps(r) + "\n" for r in rl.ccvid_outfit_prompts(config)))
        if config.augment_variants:
            stats["oracle_records"] = rl.collect_oracle_records(out)
    if config.layout == "grew":
        atomic_write_text(out / "synthetic_probe_labels.csv", rl.grew_probe_labels(config))
    write_subjects(out, config)
    seconds = time.time() - start
    write_summary(out, config, stats, seconds, argv)
    write_record(out, config, "complete", stats, argv)
    unit = {"casia_b": "sequences", "ccvid": "tracklets", "grew": "sequences"}[config.layout]
    skipped = sum(v for k, v in stats.items() if k.endswith("_skipped"))
    print(f"synthetic {config.layout}: {config.subjects} subjects, {stats[unit]} {unit} "
          f"({stats['frames']} frames) written, {skipped} already present, in {seconds:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
