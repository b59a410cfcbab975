"""The gallery file of enrolled walkers: ``gallery.npz`` (numpy arrays only, no pickles).

    embeddings (N, C, P) float32   labels (N,) str   sources (N,) str (video path)
    frames_in (N,) int   frames_kept (N,) int   track_ids (N,) int
    meta  str: JSON with the model identity (model, model_cfg / checkpoint SHA-256, config path,
          iteration, metric) and when the gallery was written
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaitcore.atomic_files import atomic_path
from gaitcore.errors import UserInputError

IDENTITY_KEYS = ("model", "model_cfg_sha256", "checkpoint_sha256")


@dataclass
class Gallery:
    identity: dict
    embeddings: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    sources: list = field(default_factory=list)
    frames_in: list = field(default_factory=list)
    frames_kept: list = field(default_factory=list)
    track_ids: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, embedding: np.ndarray, label: str, source: str, frames_in: int, frames_kept: int,
            track_id: int) -> None:
        self.embeddings.append(np.asarray(embedding, np.float32))
        self.labels.append(str(label))
        self.sources.append(str(source))
        self.frames_in.append(int(frames_in))
        self.frames_kept.append(int(frames_kept))
        self.track_ids.append(int(track_id))

    def check_model(self, identity: dict, path: str | Path) -> None:
        """Refuse a gallery made by another model (or checkpoint, or model_cfg)."""
        differ = [k for k in IDENTITY_KEYS if self.identity.get(k) != identity.get(k)]
        if differ:
            raise UserInputError(f"{path}: this gallery was made with another model ({', '.join(differ)} differ: "
                                 f"gallery {self.identity.get('model')} from {self.identity.get('checkpoint')}, "
                                 f"now {identity.get('model')} from {identity.get('checkpoint')}); enroll again "
                                 "with this model")

    def save(self, path: str | Path) -> None:
        if not self.labels:
            raise UserInputError(f"{path}: nothing enrolled, no gallery written")
        meta = {**self.identity, "written": time.strftime("%Y-%m-%d %H:%M:%S")}
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, embeddings=np.stack(self.embeddings), labels=np.array(self.labels),
                         sources=np.array(self.sources), frames_in=np.array(self.frames_in),
                         frames_kept=np.array(self.frames_kept), track_ids=np.array(self.track_ids),
                         meta=np.array(json.dumps(meta)))


def load_gallery(path: str | Path) -> Gallery:
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: gallery file not found (make one with enroll_gallery.py)")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            gallery = Gallery(meta, list(data["embeddings"]), data["labels"].tolist(), data["sources"].tolist(),
                              data["frames_in"].tolist(), data["frames_kept"].tolist(), data["track_ids"].tolist())
    except (OSError, ValueError, KeyError) as e:
        raise UserInputError(f"{path}: not a gallery file ({type(e).__name__}: {e})") from None
    check_gallery(gallery, path)
    return gallery


def check_gallery(gallery: Gallery, path: str | Path) -> None:
    """Every array has one row per entry, the embeddings one shape and finite values, and there
    is at least one entry: otherwise one line naming the problem (an entry never vanishes)."""
    lengths = {"embeddings": len(gallery.embeddings), "labels": len(gallery.labels),
               "sources": len(gallery.sources), "frames_in": len(gallery.frames_in),
               "frames_kept": len(gallery.frames_kept), "track_ids": len(gallery.track_ids)}
    if len(set(lengths.values())) != 1:
        raise UserInputError(f"{path}: the gallery's arrays disagree in length "
                             f"({', '.join(f'{k} {v}' for k, v in lengths.items())}); enroll again")
    if not gallery.labels:
        raise UserInputError(f"{path}: the gallery is empty; enroll walkers with enroll_gallery.py")
    shapes = {np.asarray(e).shape for e in gallery.embeddings}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise UserInputError(f"{path}: gallery embeddings of shapes {sorted(shapes)}; expected one (C, P) shape")
    bad = sum(1 for e in gallery.embeddings if not np.isfinite(e).all())
    if bad:
        raise UserInputError(f"{path}: {bad} of {len(gallery)} gallery embeddings hold NaN or infinite values; "
                             "enroll those walkers again")
