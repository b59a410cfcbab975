"""Embedding single sequences with a trained model, outside a dataset: for galleries of people
enrolled from videos and for identifying walkers.

``SequenceEmbedder`` loads a config and a checkpoint (weights only), applies the config's test
transforms and frame sampling to pretreated arrays (``{0_heatmap, 1_sil, 2_pose}``, as written
by the preprocessing) and returns the part embedding (C, P). ``identity`` is what a gallery
records, so that identify can refuse a gallery made by another model.

Backends: ``torch`` (the checkpoint, eager or with ``compile``) and ``onnxruntime`` (a file made by
``tools/export_onnx.py`` from the checkpoint; the model step then runs without torch). The ONNX
file carries its checkpoint's identity, so galleries work across the two.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from gaitcore.pretreated_io import HEATMAP, POSE, SILHOUETTE
from gaitcore.errors import CheckpointError, ConfigError
from opengait.config import load_config
from opengait.data.frame_sampling import sample_frames
from opengait.data.loader import collate_sequences
from opengait.data.transforms import build_transform
from opengait.engine.checkpoint import model_from_checkpoint
from opengait.evaluation.distance import pairwise_distance

MODALITY_FILES = (HEATMAP, SILHOUETTE, POSE)   # the sorted .pkl names data_in_use counts over


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


BACKENDS = ("torch", "onnxruntime")


def add_model_arguments(parser) -> None:
    """--cfgs, --ckpt, --set, --model-device, --backend, --compile: the trained model a tool embeds with."""
    g = parser.add_argument_group("gait model")
    g.add_argument("--cfgs", required=True, help="the model's experiment YAML (the same for enroll and identify)")
    g.add_argument("--ckpt", required=True, help="checkpoint file (<run>/checkpoints/<save_name>-<iter>.pt, "
                                                 "or an OpenGait checkpoint of the same model); with --backend "
                                                 "onnxruntime the .onnx file export_onnx.py made from it")
    g.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override")
    g.add_argument("--model-device", default="auto", help="device of the gait model (auto, cpu, cuda; torch backend)")
    g.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="torch (default) or onnxruntime (optional extra: pip install -r requirements-onnx.txt)")
    g.add_argument("--compile", action="store_true",
                   help="torch backend: torch.compile the model (pays off over many sequences; see docs/speed-and-memory.md)")


class SequenceEmbedder:
    def __init__(self, cfgs: str | Path, ckpt: str | Path, overrides=(), device: str = "auto",
                 backend: str = "torch", compile: bool = False):
        self.cfg = load_config(cfgs, overrides)
        ckpt = Path(ckpt)
        if backend not in BACKENDS:
            raise ConfigError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
        if not ckpt.is_file():
            raise CheckpointError(f"{ckpt}: {'ONNX file' if backend == 'onnxruntime' else 'checkpoint'} not found")
        if (ckpt.suffix.lower() == ".onnx") != (backend == "onnxruntime"):
            raise CheckpointError(f"{ckpt}: the {backend} backend reads "
                                  f"{'an .onnx file' if backend == 'onnxruntime' else 'a .pt checkpoint'}"
                                  f"{' (pass --backend onnxruntime for .onnx files)' if backend == 'torch' else ''}")
        use = self.cfg.data.data_in_use or [True] * len(MODALITY_FILES)
        if len(use) != len(MODALITY_FILES):
            raise ConfigError(f"{cfgs}: data_cfg.data_in_use has {len(use)} entries; sequences made "
                              f"from videos hold {len(MODALITY_FILES)} ({', '.join(MODALITY_FILES)})")
        self.modalities = [m for m, on in zip(MODALITY_FILES, use) if on]
        ecfg = self.cfg.evaluator
        self.sampler_cfg = ecfg.sampler
        self.transform = build_transform(ecfg.transform, "evaluator_cfg.transform")
        self.metric = ecfg.metric
        self.backend, self.onnx, self.model = backend, None, None
        if backend == "onnxruntime":
            from opengait.engine.onnx_model import OnnxModel
            self.onnx = OnnxModel(ckpt)
            recorded = self.onnx.identity
            if recorded.get("model_cfg_sha256") != model_cfg_sha256(self.cfg.model):
                raise CheckpointError(f"{ckpt}: exported from another model_cfg than {cfgs}'s "
                                      f"({recorded.get('model')} from {recorded.get('config')})")
            if list(self.onnx.modalities) != self.modalities:
                raise CheckpointError(f"{ckpt}: reads {', '.join(self.onnx.modalities)}, but {cfgs} feeds "
                                      f"{', '.join(self.modalities)} (data_cfg.data_in_use)")
            self.identity = {**{k: recorded[k] for k in ("model", "model_cfg_sha256", "checkpoint_sha256",
                                                         "iteration", "checkpoint")},
                             "config": str(cfgs), "metric": self.metric, "onnx": str(ckpt)}
            return
        strict = self.cfg.evaluator.restore_ckpt_strict
        self.model, state = model_from_checkpoint(self.cfg.model, ckpt, strict)     # ours or OpenGait's
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.forward = torch.compile(self.model, dynamic=True) if compile else self.model
        self.identity = {"model": self.cfg.model["model"], "model_cfg_sha256": model_cfg_sha256(self.cfg.model),
                         "checkpoint_sha256": file_sha256(ckpt), "iteration": int(state["iteration"]),
                         "config": str(cfgs), "checkpoint": str(ckpt), "metric": self.metric}

    @property
    def needs_pose(self) -> bool:
        return HEATMAP in self.modalities or POSE in self.modalities

    def prepare(self, arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """One pretreated sequence as the model reads it: the evaluator's frame sampling and
        transforms, ``(modality -> (T, ...) array, frame indices (T,))``."""
        missing = [m for m in self.modalities if m not in arrays]
        if missing:
            raise ConfigError(f"the model needs {', '.join(missing)}, which this sequence lacks "
                              "(poses are needed for skeleton maps and keypoints)")
        n = len(arrays[self.modalities[0]])
        rng = np.random.default_rng(0)
        frames = sample_frames(n, self.sampler_cfg, rng, None)
        return self.transform({m: arrays[m][frames] for m in self.modalities}, rng), np.asarray(frames)

    def embed(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """The (C, P) embedding of one pretreated sequence."""
        data, frames = self.prepare(arrays)
        if self.onnx is not None:
            batch = {m: np.asarray(v, np.float32)[None] for m, v in data.items()}
            return self.onnx.embed(batch, frames[None])[0]
        batch = collate_sequences([{"data": data, "frames": frames, "index": 0, "label": 0}])
        inputs = {k: v.to(self.device) for k, v in batch["inputs"].items()}
        with torch.no_grad():
            out = self.forward(inputs, batch["lengths"].to(self.device), batch["frames"].to(self.device))
        return out["inference_feat"]["embeddings"][0].float().cpu().numpy()


def model_cfg_sha256(model_cfg: Mapping) -> str:
    """The SHA-256 of a config's model_cfg (key order aside): a gallery's and an ONNX file's
    record of the model settings."""
    return hashlib.sha256(json.dumps(model_cfg, sort_keys=True).encode()).hexdigest()


def rank_identities(probe: np.ndarray, gallery: np.ndarray, labels: np.ndarray, metric: str = "euc"
                    ) -> list[tuple[str, float, int]]:
    """Gallery identities ordered by their nearest entry to ``probe`` (C, P):
    ``[(label, distance, gallery index), ...]``."""
    dist = pairwise_distance(probe[None], gallery, metric)[0]
    best: dict[str, tuple[float, int]] = {}
    for i, (label, d) in enumerate(zip(labels, dist)):
        if label not in best or d < best[label][0]:
            best[str(label)] = (float(d), i)
    return sorted(((label, d, i) for label, (d, i) in best.items()), key=lambda r: r[1])
