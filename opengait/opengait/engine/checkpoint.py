"""Checkpoints: OpenGait's names, everything needed to resume exactly, safe loading.

``output/<dataset>/<model>/<save_name>/checkpoints/<save_name>-<iteration:05d>.pt`` holds the
model, optimizer, scheduler and grad-scaler states, the iteration, the random states, the
number of classes and the full config. Files are written atomically and read with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import logging
import random
import re
from pathlib import Path

import numpy as np
import torch

from datasets_preprocess.common.atomic_files import atomic_path
from opengait.config import ConfigError

log = logging.getLogger(__name__)
FORMAT = "hybridgait-checkpoint-1"


def checkpoint_path(run_dir: Path, save_name: str, iteration: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"{save_name}-{iteration:05d}.pt"


def latest_checkpoint(run_dir: Path, save_name: str) -> Path | None:
    pattern = re.compile(rf"{re.escape(save_name)}-(\d+)\.pt")
    found = [(int(m.group(1)), p) for p in (Path(run_dir) / "checkpoints").glob("*.pt")
             if (m := pattern.fullmatch(p.name))]
    return max(found)[1] if found else None


def rng_state() -> dict:
    state = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
            "python_version": random.getstate()[0], "numpy": [state[0], state[1].tolist(), *state[2:]]}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), None))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, np.uint32), *rest))


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer, scheduler, scaler,
                    iteration: int, num_classes: int, cfg: dict) -> None:
    state = {"format": FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "scaler": scaler.state_dict() if scaler is not None else None,
             "iteration": int(iteration), "rng": rng_state(), "num_classes": int(num_classes),
             "model_name": cfg["model_cfg"]["model"], "model_cfg": cfg["model_cfg"], "config": cfg}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def resolve_restore(hint, run_dir: Path, save_name: str) -> Path | None:
    """restore_hint: 0 -> None, an int -> that iteration's file, ``latest`` -> the run's newest
    checkpoint (None if there is none yet), another string -> that path."""
    if hint in (0, None, "", "0"):
        return None
    if hint == "latest":
        return latest_checkpoint(run_dir, save_name)
    if isinstance(hint, int) or (isinstance(hint, str) and hint.isdigit()):
        path = checkpoint_path(run_dir, save_name, int(hint))
    else:
        path = Path(hint)
    if not path.exists():
        raise ConfigError(f"restore_hint {hint!r}: checkpoint {path} not found")
    return path


def load_checkpoint(path: Path, model_cfg: dict) -> dict:
    """Load (weights only) and check that it was made by the same model and model_cfg."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupted file, or a pickle that needs arbitrary code
        raise ConfigError(f"{path}: not a loadable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a HybridGait checkpoint (to use OpenGait weights, load "
                          "their 'model' state dict yourself)")
    if state["model_name"] != model_cfg.get("model"):
        raise ConfigError(f"{path}: saved by model {state['model_name']!r}, but this config builds "
                          f"{model_cfg.get('model')!r}")
    if state["model_cfg"] != model_cfg:
        changed = sorted(k for k in set(state["model_cfg"]) | set(model_cfg)
                         if state["model_cfg"].get(k) != model_cfg.get(k))
        raise ConfigError(f"{path}: saved with a different model_cfg (differs in: {', '.join(changed)})")
    return state


def load_model_weights(model: torch.nn.Module, state: dict, path: Path, strict: bool = True) -> None:
    try:
        result = model.load_state_dict(state["model"], strict=strict)
    except RuntimeError as e:
        raise ConfigError(f"{path}: weights do not fit this model ({str(e).splitlines()[0]})") from None
    if not strict and (result.missing_keys or result.unexpected_keys):
        log.warning("%s: %d missing and %d unexpected keys ignored", path,
                                            len(result.missing_keys), len(result.unexpected_keys))
