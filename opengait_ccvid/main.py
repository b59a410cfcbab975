"""Train or test on CCVID with the clothes-changing protocol (same flags as opengait's main.py).

    python opengait_ccvid/main.py --cfgs opengait_ccvid/configs/hybridgait_ccvid.yaml --phase train
    python opengait_ccvid/main.py --cfgs opengait_ccvid/configs/hybridgait_ccvid.yaml --phase test

The trainer is opengait's; the ``evaluate_ccvid`` evaluator (general and clothes-changing
rank-1/5/10/20, mAP and mINP; per-query CSV in <run>/eval/) is a plugin that the configs here
name (``plugins: [opengait_ccvid.ccvid_evaluator]``), so ``opengait/opengait/main.py`` runs them
too. This entry point (the seed's) also loads the plugin for configs that do not name it.
Several GPUs: accelerate launch --num_processes N opengait_ccvid/main.py --cfgs <yaml> ...
"""
from __future__ import annotations

from gaitcore.cli import run_script
from opengait.main import main, parse_args
from opengait.registry import load_plugins

if __name__ == "__main__":
    load_plugins(["opengait_ccvid.ccvid_evaluator"])        # registers evaluate_ccvid
    args = parse_args(description=__doc__)
    raise SystemExit(run_script(main, args))
