"""Re-do the keypoint error of a synthetic set under another error model, without rendering.

A set generated with a structured ``--keypoint-noise`` (estimator, estimator_v3, ...) keeps the
exact keypoints of every sequence in ``poses_exact/`` with what its error depends on (subject,
clothes, view, coat, bag). This script applies another model to them and writes pose JSON files
with the same names to ``--out``, to pass as ``--pose-from`` to the preprocessing scripts:

    python datasets_preprocess/synthetic/apply_keypoint_error.py --src data/synthetic_casia_b \\
        --keypoint-noise estimator,bias=0 --out data/synthetic_casia_b_poses_nobias
    python datasets_preprocess/casia_b/make_pose_gei.py --silhouettes data/synthetic_casia_b/silhouettes \\
        --pose-from data/synthetic_casia_b_poses_nobias --out data/casia_b_nobias_work

Every sequence draws from the same random streams as the generator, so the generator's own
``--keypoint-noise`` gives its ``poses/`` back byte for byte, and two models differ only where
their parameters do. ``none`` writes the exact keypoints. A model with a pull towards the other
walkers (``estimator_v7``; pose_error.py) first reads every sequence's exact keypoints for the
templates, so it runs here and not in the generator.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gaitcore.atomic_files import atomic_write_text
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.pose_files import format_pose_json, read_pose_json
from datasets_preprocess.synthetic.pose_error import parse_pose_error, template_departures
from datasets_preprocess.synthetic.raw_layouts import EXACT_POSES, erred_keypoints

log = logging.getLogger("apply_keypoint_error")
RECORD = "keypoint_error.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="a synthetic set made by make_synthetic_gait.py with a "
                                                "structured --keypoint-noise (it holds poses_exact/)")
    p.add_argument("--keypoint-noise", required=True,
                   help="the error model to apply: none, estimator, estimator_v3 or either with "
                        ",name=value changes (datasets_preprocess/synthetic/pose_error.py)")
    p.add_argument("--out", required=True, help="folder for the pose JSON files (same names as --src/poses)")
    p.add_argument("--overwrite", action="store_true",
                   help="rewrite files that exist (default: keep them; a folder made with another "
                        "model is refused)")
    return p.parse_args(argv)


def population_departures(src: Path, paths: list[Path]) -> dict[str, np.ndarray]:
    """Every sequence's departure from its template (pose_error.template_departures), by its path
    relative to the exact keypoints' folder: the same view's frames of the other walkers."""
    sequences, walker, view = {}, {}, {}
    for path in tqdm(paths, desc="templates: reading", unit="seq"):
        name = str(path.relative_to(src / EXACT_POSES))
        context = json.loads(path.read_text()).get("error_context")
        if context is None:
            raise UserInputError(f"{path}: no error_context (written by an older generator; regenerate)")
        sequences[name] = read_pose_json(path)[1]
        walker[name], view[name] = context["subject"], context["view"]
    return template_departures(sequences, walker, view)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    src, out = Path(args.src), Path(args.out)
    record = src / "generation.json"
    if not record.is_file():
        raise UserInputError(f"{record}: not found (--src must be a set made by make_synthetic_gait.py)")
    seed = int(json.loads(record.read_text())["config"]["seed"])
    try:
        model = parse_pose_error(args.keypoint_noise)
    except ValueError as e:
        raise UserInputError(str(e)) from None
    if model.iid:
        raise UserInputError(f"--keypoint-noise {args.keypoint_noise}: the i.i.d. model draws from the "
                             "renderer's stream; regenerate the set with it instead")
    exact = sorted((src / EXACT_POSES).rglob("*.json"))
    if not exact:
        raise UserInputError(f"{src / EXACT_POSES}: no exact keypoints (generate the set with a structured "
                             "--keypoint-noise such as estimator)")
    previous = out / RECORD
    if previous.exists() and not args.overwrite:
        made_with = json.loads(previous.read_text()).get("keypoint_noise")
        if made_with != args.keypoint_noise:
            raise UserInputError(f"{out}: made with --keypoint-noise {made_with}; pass --overwrite or "
                                 "choose another --out")
    atomic_write_text(previous, json.dumps({"source": str(src), "keypoint_noise": args.keypoint_noise,
                                            "status": "incomplete"}, indent=1) + "\n")
    departures = population_departures(src, exact) if model.needs_population() else {}
    written = skipped = 0
    for path in tqdm(exact, desc="keypoint error", unit="seq"):
        name = path.relative_to(src / EXACT_POSES)
        target = out / name
        if target.exists() and not args.overwrite:
            skipped += 1
            continue
        doc = json.loads(path.read_text())
        numbers, keypoints = read_pose_json(path)
        context = doc.get("error_context")
        if context is None:
            raise UserInputError(f"{path}: no error_context (written by an older generator; regenerate)")
        erred = erred_keypoints(keypoints, args.keypoint_noise, seed, context, departures.get(str(name)))
        extra = {k: v for k, v in doc.items() if k not in ("format", "keypoint_names", "image_size", "frames",
                                                            "error_context")}
        atomic_write_text(target, format_pose_json(erred, numbers, doc.get("image_size"), extra))
        written += 1
    atomic_write_text(previous, json.dumps({"source": str(src), "keypoint_noise": args.keypoint_noise,
                                            "status": "complete", "sequences": len(exact)}, indent=1) + "\n")
    print(f"keypoint error {args.keypoint_noise}: {written} written, {skipped} kept, 0 failed -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args(sys.argv[1:])))
