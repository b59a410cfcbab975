"""Export a trained model to ONNX: dynamic batch and frame count, checked against PyTorch.

The file maps the model's inputs after the config's evaluator transforms (``heatmap``, ``sil``,
``pose``: whichever the model reads, plus ``frames``) to its part embeddings (N, C, P), and records
the checkpoint's model identity, so galleries enrolled with PyTorch or with the file are
interchangeable. Before the file is written, onnxruntime runs it on the traced example and on a
batch of two at another length; if its embeddings differ from PyTorch's by more than 1e-4 the
export stops and writes nothing.

    python opengait/opengait/tools/export_onnx.py --cfgs <yaml> --ckpt <run>/checkpoints/<name>-<iter>.pt
    python opengait/opengait/tools/identify_walker.py --backend onnxruntime --ckpt <name>-<iter>.onnx ...

Needs the optional extra: pip install -r requirements-onnx.txt (onnx, onnxscript, onnxruntime).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.pretreated_io import HEATMAP, POSE, SILHOUETTE, read_sequence

log = logging.getLogger("export_onnx")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cfgs", required=True, help="the model's experiment YAML")
    p.add_argument("--ckpt", required=True, help="checkpoint (ours or OpenGait's, as for --phase test)")
    p.add_argument("--out", help="ONNX file to write (default: the checkpoint's path with .onnx)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override")
    p.add_argument("--example", help="a pretreated sequence folder (<root>/<id>/<type>/<view>) to trace with "
                                     "(default: a generated walker-sized example)")
    p.add_argument("--frames", type=int, default=30,
                   help="frames of the generated example (default 30; any count runs after export)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = p.parse_args(argv)
    if args.frames < 3:
        p.error("--frames must be >= 3")
    args.out = Path(args.out) if args.out else Path(args.ckpt).with_suffix(".onnx")
    return args


def generated_example(frames: int, size: int = 64) -> dict[str, np.ndarray]:
    """Pretreated arrays of a walker-shaped blob (values only need to be plausible: the
    export traces shapes, and the check compares onnxruntime with PyTorch on the same input)."""
    rng = np.random.default_rng(0)
    t = np.arange(frames)
    yy, xx = np.mgrid[:size, :size]
    sil = np.zeros((frames, size, size), np.uint8)
    for i in t:
        cx = size / 2 + 3 * np.sin(i / 4)
        body = ((xx - cx) / (size * 0.14)) ** 2 + ((yy - size / 2) / (size * 0.45)) ** 2 <= 1
        sil[i][body] = 255
    heat = np.stack([sil, np.roll(sil, 2, axis=2)], axis=1)
    base = np.array([[32, 6], [30, 5], [34, 5], [28, 6], [36, 6], [26, 14], [38, 14], [24, 22], [40, 22],
                     [23, 29], [41, 29], [28, 32], [36, 32], [27, 45], [37, 45], [27, 58], [37, 58]], np.float32)
    pose = np.concatenate([base[None] + rng.normal(0, 1, (frames, 17, 2)).astype(np.float32),
                           np.full((frames, 17, 1), 0.9, np.float32)], axis=-1)
    return {HEATMAP: heat, SILHOUETTE: sil, POSE: pose}


def main(args: argparse.Namespace) -> int:
    setup_logging()
    from opengait.engine.onnx_model import export, require
    from opengait.engine.sequence_embedding import SequenceEmbedder
    for module in ("onnx", "onnxscript", "onnxruntime"):
        require(module)                          # before minutes of work, one line if missing
    if args.out.exists() and not args.overwrite:
        raise UserInputError(f"{args.out}: already exists (pass --overwrite to replace it)")
    if args.out.suffix.lower() != ".onnx":
        raise UserInputError(f"{args.out}: the file name must end in .onnx")
    embedder = SequenceEmbedder(args.cfgs, args.ckpt, args.set, device="cpu")
    if args.example:
        arrays = read_sequence(args.example, embedder.modalities)
    else:
        arrays = generated_example(args.frames)
    data, _ = embedder.prepare(arrays)
    modalities = tuple(m for m in embedder.modalities)
    record = export(embedder.model.float().eval(), modalities, data, args.out, embedder.identity, args.opset)
    log.info("wrote %s (%s, iteration %d): inputs %s + frames, dynamic batch and frames; onnxruntime vs "
             "PyTorch max |diff| %.1e; export took %.0f s", args.out, embedder.identity["model"],
             embedder.identity["iteration"], ", ".join(modalities), record["max_abs_diff_vs_torch"],
             record["export_seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
