"""Peak memory of one training step of a config, measured in this (fresh) process; prints one
JSON line. Used by benchmarks/fit_batch.py and benchmarks/bench_train_step.py, one process per
measurement (see opengait.engine.memory.measure_step_here for what is counted).

    python -m opengait.tools.measure_train_step --cfgs opengait/configs/skeletongait/skeletongait++_casia_b.yaml --batch 2x4
"""
from __future__ import annotations

import argparse
import json

from gaitcore.cli import resolve_device_name
from opengait.engine.memory import measure_step_here


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfgs", required=True, help="experiment YAML")
    parser.add_argument("--batch", default="1x2", help="P x K sequences (default 1x2)")
    parser.add_argument("--frames", type=int, default=30, help="frames per sequence (default 30)")
    parser.add_argument("--device", default="auto", help="auto (cuda when present, else cpu), cpu or cuda[:n] (default auto)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, e.g. model_cfg.checkpoint_stages=[1,2,3,4] (repeatable)")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    p, k = (int(v) for v in args.batch.lower().split("x"))
    print(json.dumps(measure_step_here(args.cfgs, p, k, args.frames, args.set,
                                       resolve_device_name(args.device))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(parse_args()))
