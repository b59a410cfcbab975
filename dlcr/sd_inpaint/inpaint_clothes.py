"""DLCR stage 4: repaint clothes with Stable Diffusion inpainting, in other identities' outfits.

A seeded --fraction of the training tracklets gets --n variants; variant v of a tracklet wears
the outfit (stage-2 prompt) of another identity, never its own, with one prompt and one seed for
every frame of the tracklet. Each frame is resized to --size, inpainted inside its stage-3
clothes mask, resized back and pasted: only masked pixels change. Outputs are PNG files
<out>/<tracklet>_aug<v>/<frame>.png; one JSON line per image records the source key, variant,
target outfit, prompt, seed and output path.

    python dlcr/sd_inpaint/inpaint_clothes.py --src data/CCVID --masks data/dlcr/masks --prompts data/dlcr/prompts.jsonl --n 10 --fraction 0.25 --out data/dlcr/inpainted
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

from gaitcore.atomic_files import atomic_write_bytes
from gaitcore.augmented_names import augmented_key, augmented_tracklet
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.image_io import read_image, read_mask
from dlcr.common.image_items import ccvid_image_items
from gaitcore.jsonl_records import read_records
from dlcr.common.stage_runner import (LazyModel, add_stage_arguments, check_stage_arguments, read_stage_defaults,
                                      resolve_device, resolve_dtype, run_stage, summary)
from dlcr.sd_inpaint.clothes_inpainting import plan_variants

PRESETS = {"dlcr": "sd_inpaint", "8gb": "sd_inpaint_8gb"}


def size_pair(value) -> list[int]:
    """``[height, width]`` of the config's ``size``."""
    size = [int(v) for v in value]
    if len(size) != 2:
        raise ValueError("expected [height, width]")
    return size


# The options of a preset's block of the config: key -> (conversion, value when absent).
CONFIG_FIELDS = {"n": (int, 10), "fraction": (float, 0.25), "steps": (int, 50), "guidance": (float, 7.5),
                 "size": (size_pair, [768, 256]), "negative_prompt": (str, None)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", choices=PRESETS, default="dlcr")
    preset = pre.parse_known_args(argv)[0].preset
    defaults = read_stage_defaults(argv, PRESETS[preset], CONFIG_FIELDS)
    p = argparse.ArgumentParser(description=__doc__, epilog=defaults.note,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=PRESETS, default="dlcr",
                   help="the block of the config the defaults come from: dlcr (sd_inpaint, DLCR's setting: "
                        "768x256, 50 steps, guidance 7.5) or 8gb (sd_inpaint_8gb: 512x256, 30 steps); flags "
                        "below win")
    p.add_argument("--src", required=True, help="CCVID root")
    p.add_argument("--masks", required=True, help="stage 3 mask root (<relative image path>.png)")
    p.add_argument("--prompts", required=True, help="stage 2 JSONL")
    p.add_argument("--out", required=True, help="output root for the repainted frames")
    p.add_argument("--records", help="output JSONL (default <out>/inpaint.jsonl)")
    p.add_argument("--n", type=int, default=defaults.get("n"),
                   help=f"variants per tracklet (default {defaults.get('n')}, config)")
    p.add_argument("--fraction", type=float, default=defaults.get("fraction"),
                   help=f"share of training tracklets to augment (default {defaults.get('fraction')}, config)")
    p.add_argument("--steps", type=int, default=defaults.get("steps"),
                   help=f"diffusion steps (default {defaults.get('steps')}, config)")
    p.add_argument("--guidance", type=float, default=defaults.get("guidance"),
                   help=f"classifier-free guidance scale (default {defaults.get('guidance')}, config)")
    size = defaults.get("size")
    p.add_argument("--size", type=int, nargs=2, default=size, metavar=("H", "W"),
                   help=f"inpainting size, multiples of 8 (default {size[0]} {size[1]}, config)")
    p.add_argument("--negative-prompt", default=defaults.get("negative_prompt"),
                   help="what the repainted clothes should not look like (default: config)")
    p.add_argument("--no-attention-slicing", action="store_true",
                   help="faster, more memory (slicing is on by default for 8 GB GPUs)")
    p.add_argument("--cpu-offload", action="store_true",
                   help="keep idle sub-models on the CPU (CUDA only; for GPUs under 6 GB)")
    add_stage_arguments(p, defaults)
    args = p.parse_args(argv)
    defaults.stop_on_problem(p)
    check_stage_arguments(p, args)
    if any(v % 8 or v < 8 for v in args.size):
        p.error(f"--size {args.size[0]} {args.size[1]}: height and width must be positive multiples of 8")
    if not 0 < args.fraction <= 1:
        p.error(f"--fraction {args.fraction}: must be in (0, 1]")
    if args.n < 1:
        p.error(f"--n {args.n}: must be >= 1")
    if args.steps < 1:
        p.error(f"--steps {args.steps}: must be >= 1")
    return args


def main(args: argparse.Namespace) -> int:
    setup_logging()
    out = Path(args.out)
    records_path = Path(args.records) if args.records else out / "inpaint.jsonl"
    read = Counter()
    prompts = read_records(args.prompts, key="outfit", counts=read)
    if read["torn_last_lines"]:
        logging.getLogger("dlcr").warning("%s: a last line cut short by a killed writer was dropped", args.prompts)
    if not prompts:
        raise UserInputError(f"{args.prompts}: no prompts (run summarize_clothes_descriptions.py first)")
    unusable = sum(1 for rec in prompts.values() if not rec.get("prompt") or rec.get("error"))
    if unusable == len(prompts):
        raise UserInputError(f"{args.prompts}: none of its {len(prompts)} outfits has a usable prompt (every "
                             "record has an error field or an empty prompt); re-run stage 2 with a real "
                             "instruct model")
    if unusable:
        logging.getLogger("dlcr").warning("%s: %d of %d outfits have no usable prompt and are not used as "
                                          "targets", args.prompts, unusable, len(prompts))
    frames = defaultdict(list)
    pid_of = {}
    for it in ccvid_image_items(args.src, ("train",)):
        frames[it.tracklet].append(it)
        pid_of[it.tracklet] = it.pid
    plans = plan_variants(pid_of, prompts, args.fraction, args.n, args.seed)
    items = sorted(((it, plan) for plan in plans for it in frames[plan.tracklet]),
                   key=lambda x: (x[0].key, x[1].variant))
    counts = Counter(tracklets_augmented=len({p.tracklet for p in plans}), variants=len(plans))
    device = resolve_device(args.device)

    def load_inpainter():
        from dlcr.sd_inpaint.clothes_inpainting import ClothesInpainter
        return ClothesInpainter(args.ckpt, device, resolve_dtype(args.dtype, device), not args.no_attention_slicing,
                                args.cpu_offload)

    inpainter = LazyModel(load_inpainter)

    def process(batch):
        sd = inpainter()
        images, masks, kept = [], [], []
        for it, plan in batch:
            bgr = read_image(it.path)
            mask = read_mask(Path(args.masks) / Path(it.key).with_suffix(".png"))
            if bgr is None:
                counts["unreadable_images"] += 1
                continue
            if isinstance(mask, str) or mask.shape != bgr.shape[:2]:
                counts["missing_masks"] += 1
                continue
            images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            masks.append(np.where(mask > 127, 255, 0).astype(np.uint8))
            kept.append((it, plan))
        if not kept:
            return []
        results = sd.inpaint(images, masks, [p.prompt for _, p in kept], [p.seed for _, p in kept],
                                      tuple(args.size), args.steps, args.guidance, args.negative_prompt)
        records = []
        for (it, plan), rgb in zip(kept, results):
            rel = Path(augmented_tracklet(plan.tracklet, plan.variant)) / (Path(it.key).stem + ".png")
            ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            atomic_write_bytes(out / rel, buf.tobytes())
            records.append({"key": augmented_key(it.key, plan.variant), "source": it.key,
                            "variant": plan.variant, "tracklet": plan.tracklet, "pid": it.pid,
                            "target_outfit": plan.target_outfit, "target_pid": plan.target_pid,
                            "prompt": plan.prompt, "seed": plan.seed, "output": str(rel), "model": args.ckpt})
        return records

    run_stage("inpaint", items, lambda x: augmented_key(x[0].key, x[1].variant), records_path, process, args,
              counts=counts)
    print(summary("inpaint_clothes", counts, records_path))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
