"""DLCR stage 1: describe each outfit's clothes with a LLaVA-family model.

For every outfit (<pid>_<clothes label> of the CCVID split files) K frames (default 1, evenly
spread over the outfit's frames) are shown to the model with a fixed question about garments,
colours, patterns, materials, shoes and accessories. One JSON line per image:
{"key": <relative image path>, "pid", "outfit", "tracklet", "text", "model"}.
Re-runs skip keys already written; --shard i/n and `accelerate launch` split the work.

    python dlcr/llava/extract_clothes_descriptions.py --src data/CCVID --out data/dlcr/desc.jsonl
    accelerate launch --num_processes 2 dlcr/llava/extract_clothes_descriptions.py --src data/CCVID --out data/dlcr/desc.jsonl
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from gaitcore.cli import run_script, setup_logging
from dlcr.common.image_items import ccvid_image_items, evenly_spaced, read_batch, read_rgb
from dlcr.common.stage_runner import (LazyModel, add_stage_arguments, check_stage_arguments, read_stage_defaults,
                                      resolve_device, resolve_dtype, run_stage, summary)

# The options of the `llava` block of the config: key -> (conversion, value when absent).
CONFIG_FIELDS = {"frames_per_outfit": (int, 1), "question": (str, None), "max_new_tokens": (int, 96)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = read_stage_defaults(argv, "llava", CONFIG_FIELDS)
    p = argparse.ArgumentParser(description=__doc__, epilog=defaults.note,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="CCVID root (session*/ folders and split files)")
    p.add_argument("--out", required=True, help="output JSONL")
    p.add_argument("--splits", default="train", help="split files to describe (default train)")
    p.add_argument("--frames-per-outfit", type=int, default=defaults.get("frames_per_outfit"),
                   help=f"frames described per outfit (default {defaults.get('frames_per_outfit')}, config; "
                        "0: every frame)")
    p.add_argument("--question", default=defaults.get("question"), help="the question asked (default: config)")
    p.add_argument("--max-new-tokens", type=int, default=defaults.get("max_new_tokens"),
                   help=f"length limit of each description in tokens (default {defaults.get('max_new_tokens')}, "
                        "config)")
    add_stage_arguments(p, defaults)
    args = p.parse_args(argv)
    defaults.stop_on_problem(p)
    check_stage_arguments(p, args)
    if args.frames_per_outfit < 0:
        p.error(f"--frames-per-outfit {args.frames_per_outfit}: must be >= 0 (0: every frame)")
    if not args.question:
        p.error("--question: none given and the config has none")
    return args


def main(args: argparse.Namespace) -> int:
    setup_logging()
    items = ccvid_image_items(args.src, tuple(args.splits.split(",")))
    by_outfit = defaultdict(list)
    for it in items:
        by_outfit[it.outfit].append(it)
    chosen = sorted((it for group in by_outfit.values() for it in evenly_spaced(group, args.frames_per_outfit)),
                    key=lambda it: it.key)
    device = resolve_device(args.device)
    counts = Counter(outfits=len(by_outfit))

    def load_describer():
        from dlcr.llava.clothes_descriptions import ClothesDescriber
        return ClothesDescriber(args.ckpt, device, resolve_dtype(args.dtype, device), args.max_new_tokens)

    describer = LazyModel(load_describer)

    def process(batch):
        model = describer()
        images, kept = read_batch(batch, read_rgb, counts)
        if not images:
            return []
        texts = model.describe(images, args.question)
        return [{"key": it.key, "pid": it.pid, "outfit": it.outfit, "tracklet": it.tracklet,
                 "text": text, "model": args.ckpt} for it, text in zip(kept, texts)]

    run_stage("describe", chosen, lambda it: it.key, Path(args.out), process, args, counts=counts)
    print(summary("extract_clothes_descriptions", counts, Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
