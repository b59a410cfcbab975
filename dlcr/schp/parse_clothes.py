"""DLCR stage 3: a clothes mask (0/255 PNG) per image from a human parser.

--parser schp (default) runs the SCHP network on an official checkpoint (--ckpt *.pth;
--dataset lip|atr|pascal picks the label set and input size); --parser segformer runs a
transformers SegFormer clothes model (--ckpt hub id or folder, ATR labels). --part upper|lower|
full chooses the garments (the table is dlcr/schp/label_sets.py); --mask-dilation grows the mask.
Masks go to <out>/<relative image path>.png; one JSON line per image in <out>/masks.jsonl.

    python dlcr/schp/parse_clothes.py --src data/CCVID --ckpt checkpoints/exp-schp-201908261155-lip.pth --part full --out data/dlcr/masks
    python dlcr/schp/parse_clothes.py --src data/CCVID --parser segformer --ckpt mattmdjaga/segformer_b2_clothes --out data/dlcr/masks
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import cv2

from gaitcore.atomic_files import atomic_write_bytes
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.image_io import read_image
from dlcr.common.image_items import ccvid_image_items, read_batch
from dlcr.common.stage_runner import (LazyModel, add_stage_arguments, check_stage_arguments, one_of,
                                      read_stage_defaults, resolve_device, resolve_dtype, run_stage, summary)
from dlcr.schp.label_sets import LABELS, PARTS

# The options of the `schp` block of the config: key -> (conversion, value when absent); the
# `segformer` block gives the --ckpt of --parser segformer.
CONFIG_FIELDS = {"dataset": (one_of(list(LABELS)), "lip"), "part": (one_of(PARTS), "full"),
                 "mask_dilation": (int, 3)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = read_stage_defaults(argv, "schp", CONFIG_FIELDS)
    segformer = read_stage_defaults(argv, "segformer", {})
    p = argparse.ArgumentParser(description=__doc__, epilog=defaults.note,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="CCVID root")
    p.add_argument("--out", required=True, help="mask root")
    p.add_argument("--records", help="output JSONL (default <out>/masks.jsonl)")
    p.add_argument("--parser", choices=("schp", "segformer"), default="schp",
                   help="human parser: an SCHP checkpoint or a SegFormer clothes model (default schp; "
                        f"--ckpt of segformer defaults to {segformer.get('ckpt')}, config)")
    p.add_argument("--dataset", choices=list(LABELS), default=defaults.get("dataset"),
                   help=f"SCHP label set of the checkpoint (default {defaults.get('dataset')}, config)")
    p.add_argument("--part", choices=PARTS, default=defaults.get("part"),
                   help="labels to repaint: full (DLCR: all but background, hat, hair, face, arms, legs), upper "
                        f"or lower clothes (default {defaults.get('part')}, config)")
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"),
                   help="SCHP input size (default: 473 473 for lip, 512 512 for atr/pascal)")
    p.add_argument("--mask-dilation", type=int, default=defaults.get("mask_dilation"),
                   help=f"grow masks by this many pixels (default {defaults.get('mask_dilation')}, config)")
    p.add_argument("--splits", default="train", help="split files whose frames get masks (default train)")
    add_stage_arguments(p, defaults)
    args = p.parse_args(argv)
    defaults.stop_on_problem(p)
    if args.parser == "segformer" and args.ckpt == defaults.get("ckpt"):
        segformer.stop_on_problem(p)
        args.ckpt = segformer.get("ckpt")
    check_stage_arguments(p, args)
    if args.mask_dilation < 0:
        p.error(f"--mask-dilation {args.mask_dilation}: must be >= 0")
    if args.input_size is not None and min(args.input_size) < 1:
        p.error("--input-size: height and width must be >= 1")
    return args


def main(args: argparse.Namespace) -> int:
    setup_logging()
    out = Path(args.out)
    items = ccvid_image_items(args.src, tuple(args.splits.split(",")))
    device = resolve_device(args.device)
    counts = Counter()

    def load_parser():
        """The human parser and the label ids of --part."""
        from dlcr.schp import clothes_parsing as cp
        dtype = resolve_dtype(args.dtype, device)
        if args.parser == "schp":
            if not args.ckpt or not Path(args.ckpt).exists():
                raise UserInputError(f"{args.ckpt}: SCHP checkpoint not found (download the "
                                     "official .pth and pass --ckpt)")
            try:
                parser = cp.SCHPClothesParser(args.ckpt, args.dataset, device, dtype, args.input_size)
            except (ValueError, RuntimeError) as e:
                raise UserInputError(str(e)) from None
        else:
            parser = cp.SegformerClothesParser(args.ckpt, device, dtype)
        return parser, parser.clothes_ids(args.part)

    human_parser = LazyModel(load_parser)

    def process(batch):
        parser, clothes_ids = human_parser()
        images, kept = read_batch(batch, read_image, counts)
        if not images:
            return []
        from dlcr.schp.clothes_parsing import clothes_mask
        records = []
        for it, labels in zip(kept, parser.label_maps(images)):
            mask = clothes_mask(labels, clothes_ids, args.mask_dilation)
            rel = Path(it.key).with_suffix(".png")
            atomic_write_bytes(out / rel, cv2.imencode(".png", mask)[1].tobytes())
            records.append({"key": it.key, "mask": str(rel), "part": args.part, "parser": args.parser,
                            "clothes_fraction": round(float((mask > 0).mean()), 4), "model": args.ckpt})
        return records

    records_path = Path(args.records) if args.records else out / "masks.jsonl"
    run_stage("parse", items, lambda it: it.key, records_path, process, args, counts=counts)
    print(summary("parse_clothes", counts, records_path))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
