"""Build tiny, randomly initialised models for every DLCR stage, to try the pipeline offline.

Writes <out>/llava, <out>/llama, <out>/sd_inpaint, <out>/segformer (save_pretrained folders) and
<out>/schp-lip-random.pth (official SCHP checkpoint layout). Their outputs are noise: use them to
check that the stages, resume and sharding work on your machine, then pass real checkpoints.

    python dlcr/make_tiny_models.py --out output/tiny_models
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gaitcore.cli import run_script, setup_logging
from dlcr import tiny_models


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="output/tiny_models", help="output folder (default output/tiny_models)")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    built = {"llava": tiny_models.save_tiny_llava(out / "llava"),
             "llama": tiny_models.save_tiny_llama(out / "llama"),
             "sd_inpaint": tiny_models.save_tiny_sd_inpaint(out / "sd_inpaint"),
             "segformer": tiny_models.save_tiny_segformer(out / "segformer"),
             "schp": tiny_models.save_random_schp(out / "schp-lip-random.pth")}
    print("tiny DLCR models (random weights) -> " + ", ".join(f"{k}: {v}" for k, v in built.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
