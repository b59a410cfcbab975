"""Checkpoints: OpenGait's names, everything needed to resume exactly, safe loading.

``output/<dataset>/<model>/<save_name>/checkpoints/<save_name>-<iteration:05d>.pt`` holds the
model, optimizer, scheduler and grad-scaler states, the iteration, the random states, the
number of classes and the full config. Files are written atomically and read with
``torch.load(weights_only=True)``.

Checkpoints in OpenGait's layout (``{'model', 'optimizer', 'scheduler', 'iteration'}``, e.g.
its model zoo) load too: the model's parameter names are mapped to ours
(:data:`OPENGAIT_KEY_MAPS`); the optimizer and scheduler states are not used (OpenGait orders
parameters differently), so training from one starts a fresh optimizer.
"""
from __future__ import annotations

import logging
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from gaitcore.atomic_files import atomic_path
from gaitcore.errors import CheckpointError
from opengait.modeling.registry import RUNTIME_KEYS

log = logging.getLogger(__name__)
FORMAT = "hybridgait-checkpoint-1"


def checkpoint_path(run_dir: Path, save_name: str, iteration: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"{save_name}-{iteration:05d}.pt"


def run_checkpoints(run_dir: Path, save_name: str) -> list[Path]:
    """The run's checkpoint files, newest first."""
    pattern = re.compile(rf"{re.escape(save_name)}-(\d+)\.pt")
    found = [(int(m.group(1)), p) for p in (Path(run_dir) / "checkpoints").glob("*.pt")
             if (m := pattern.fullmatch(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def latest_checkpoint(run_dir: Path, save_name: str) -> Path | None:
    found = run_checkpoints(run_dir, save_name)
    return found[0] if found else None


def damaged_reason(path: Path) -> str | None:
    """Why a checkpoint file cannot be read back (a cut or corrupted zip archive), or None.
    Checks the archive's directory and every member's CRC without unpickling anything."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f"not a complete checkpoint archive ({e})"
    return f"member {bad} fails its CRC check" if bad else None


def latest_readable_checkpoint(run_dir: Path, save_name: str) -> Path | None:
    """The newest checkpoint that reads back; damaged newer ones (a disk that filled up, a copy
    cut short) are named in a warning and passed over."""
    for path in run_checkpoints(run_dir, save_name):
        reason = damaged_reason(path)
        if reason is None:
            return path
        log.warning("%s: skipped, %s; trying the one before", path, reason)
    return None


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
                    iteration: int, num_classes: int, config: dict) -> None:
    """``config``: the run's config as plain data (``Settings.as_dict()``), kept in the file."""
    state = {"format": FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "scaler": scaler.state_dict() if scaler is not None else None,
             "iteration": int(iteration), "rng": rng_state(), "num_classes": int(num_classes),
             "model_name": config["model_cfg"]["model"], "model_cfg": config["model_cfg"], "config": config}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def resolve_restore(hint, run_dir: Path, save_name: str) -> Path | None:
    """restore_hint: 0 -> None, an int -> that iteration's file, ``latest`` -> the run's newest
    readable checkpoint (None if there is none yet), another string -> that path."""
    if hint in (0, None, "", "0"):
        return None
    if hint == "latest":
        return latest_readable_checkpoint(run_dir, save_name)
    if isinstance(hint, int) or (isinstance(hint, str) and hint.isdigit()):
        path = checkpoint_path(run_dir, save_name, int(hint))
    else:
        path = Path(hint)
    if not path.exists():
        raise CheckpointError(f"restore_hint {hint!r}: checkpoint {path} not found")
    return path


# OpenGait parameter names -> ours, per model family (regex, replacement), applied in order.
_SGPP_MAP = (
    (r"^(sil|map)_layer0\.forward_block\.", r"backbone.\1_stem.block."),
    (r"^(sil|map)_layer1\.forward_block\.", r"backbone.\1_stem.block.3."),
    (r"^fusion\.conv\.forward_block\.", "backbone.fusion.score.block."),
    (r"^(layer[234]\.\d+)\.(conv[12])\.forward_block\.", r"backbone.\1.\2.block."),
    (r"^(layer[234]\.\d+)\.shortcut3d\.", r"backbone.\1.temporal."),
    (r"^(layer[234]\.\d+)\.sbn\.", r"backbone.\1.temporal_bn."),
    (r"^(layer[234]\.\d+)\.downsample\.", r"backbone.\1.downsample."),
    (r"^FCs\.", "fcs."), (r"^BNNecks\.", "bnnecks."),
)
OPENGAIT_KEY_MAPS = {
    "GaitBase": (
        (r"^Backbone\.forward_block\.conv1\.conv\.", "backbone.block.body.0."),
        (r"^Backbone\.forward_block\.bn1\.", "backbone.block.body.1."),
        (r"^Backbone\.forward_block\.layer(\d)\.", "<stage>"),
        (r"^FCs\.", "fcs."), (r"^BNNecks\.", "bnnecks."),
    ),
    "SkeletonGaitPP": _SGPP_MAP,
    "HybridGait": _SGPP_MAP,
    "DeepGaitV2": (                       # our SetBlockWrapper / P3D block name their parts
        (r"\.forward_block\.", ".block."), (r"\.shortcut3d\.", ".temporal."), (r"\.sbn\.", ".temporal_bn."),
        (r"^FCs\.", "fcs."), (r"^BNNecks\.", "bnnecks."),
    ),
    "GaitGraph2": (),                     # OpenGait's names as they are
}
_MODEL_FAMILY = {"GaitBase": "GaitBase", "Baseline": "GaitBase", "SkeletonGaitPP": "SkeletonGaitPP",
                 "SkeletonGait++": "SkeletonGaitPP", "SkeletonGaitPlusPlus": "SkeletonGaitPP",
                 "HybridGait": "HybridGait", "Hybrid": "HybridGait", "DeepGaitV2": "DeepGaitV2",
                 "GaitGraph2": "GaitGraph2"}
# Families whose rules all apply in turn (a name may need several); the others stop at the first.
_ALL_RULES = {"DeepGaitV2"}


def opengait_to_ours(key: str, model_cfg: dict) -> str:
    """Our name of one parameter of an OpenGait checkpoint (unchanged when no rule applies)."""
    family = _MODEL_FAMILY.get(str(model_cfg.get("model")))
    if family in _ALL_RULES:
        for pattern, replacement in OPENGAIT_KEY_MAPS[family]:
            key = re.sub(pattern, replacement, key)
        return key
    for pattern, replacement in OPENGAIT_KEY_MAPS.get(family, ()):
        m = re.match(pattern, key)
        if m is None:
            continue
        if replacement == "<stage>":          # ResNet9 stages follow conv, bn, relu (, maxpool)
            maxpool = bool((model_cfg.get("backbone_cfg") or {}).get("maxpool", False))
            index = 2 + int(m.group(1)) + int(maxpool)
            return f"backbone.block.body.{index}." + key[m.end():]
        return re.sub(pattern, replacement, key)
    return key


def from_opengait(state: dict, path: Path, model_cfg: dict) -> dict:
    """An OpenGait checkpoint as ours: mapped weights, its iteration, no optimizer state."""
    weights = state["model"]
    if not isinstance(weights, dict) or not all(torch.is_tensor(v) for v in weights.values()):
        raise CheckpointError(f"{path}: 'model' is not a state dict of tensors")
    weights = {k.removeprefix("module."): v for k, v in weights.items()}  # saved from a DDP wrapper
    mapped = {opengait_to_ours(k, model_cfg): v for k, v in weights.items()}
    classifier = mapped.get("bnnecks.fc_bin")
    return {"format": "opengait", "model": mapped, "optimizer": None, "scheduler": None,
            "scaler": None, "rng": None, "iteration": int(state.get("iteration") or 0),
            "num_classes": int(classifier.shape[-1]) if classifier is not None else None,
            "model_name": model_cfg.get("model"), "model_cfg": model_cfg}


def load_checkpoint(path: Path, model_cfg: dict, strict: bool = True) -> dict:
    """Load (weights only) a checkpoint of ours or of OpenGait. Ours must come from the same
    model; with ``strict`` also from the same model_cfg (otherwise the difference is logged)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupted file, or a pickle that needs arbitrary code
        raise CheckpointError(f"{path}: not a loadable checkpoint ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and "format" not in state and "model" in state:
        log.info("%s: an OpenGait checkpoint (iteration %s); parameter names mapped to ours, "
                 "optimizer and scheduler states not used", path, state.get("iteration"))
        return from_opengait(state, path, model_cfg)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: neither a checkpoint of this project nor one in OpenGait's "
                              "layout ({'model': state_dict, ...})")
    if state["model_name"] != model_cfg.get("model"):
        if strict:
            raise CheckpointError(f"{path}: saved by model {state['model_name']!r}, but this config builds "
                                  f"{model_cfg.get('model')!r} (restore_ckpt_strict: false loads the weights that "
                                  "fit by name and shape)")
        log.warning("%s: saved by model %r, this config builds %r: loading the weights that fit by name "
                    "and shape", path, state["model_name"], model_cfg.get("model"))
        return state
    changed = sorted(k for k in set(state["model_cfg"]) | set(model_cfg)
                     if state["model_cfg"].get(k) != model_cfg.get(k) and k not in RUNTIME_KEYS)
    if changed:
        if strict:
            raise CheckpointError(f"{path}: saved with a different model_cfg (differs in: {', '.join(changed)}; "
                                  "restore_ckpt_strict: false loads the weights that fit)")
        log.warning("%s: saved with a different model_cfg (differs in: %s); loading the weights "
                    "that fit", path, ", ".join(changed))
    return state


def load_model_weights(model: torch.nn.Module, state: dict, path: Path, strict: bool = True) -> None:
    """Strict: every parameter name and shape must match (one line names the first mismatch).
    Not strict: load what fits by name and shape, log what was left as built."""
    own = model.state_dict()
    weights = state["model"]
    if strict:
        missing = [k for k in own if k not in weights]
        unexpected = [k for k in weights if k not in own]
        wrong = [k for k in own if k in weights and weights[k].shape != own[k].shape]
        if missing or unexpected or wrong:
            detail = "; ".join(f"{what} {len(keys)} (e.g. {keys[0]})" for what, keys in
                               (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys)
            raise CheckpointError(f"{path}: weights do not fit this model ({detail}); "
                                  "restore_ckpt_strict: false loads the ones that fit")
        model.load_state_dict(weights, strict=True)
        return
    fitting = {k: v for k, v in weights.items() if k in own and v.shape == own[k].shape}
    if not fitting:
        raise CheckpointError(f"{path}: none of the checkpoint's {len(weights)} weights fits this model by name "
                              "and shape (another model family?); nothing was loaded")
    model.load_state_dict(fitting, strict=False)
    left = len(own) - len(fitting)
    if left or len(fitting) < len(weights):
        log.warning("%s: %d of %d entries loaded; %d of the model left as built, %d of the "
                    "checkpoint unused", path, len(fitting), len(own), left, len(weights) - len(fitting))


def model_from_checkpoint(model_cfg: dict, path: Path, strict: bool = True) -> tuple[torch.nn.Module, dict]:
    """The configured model with a checkpoint's weights (ours or OpenGait's), and the checkpoint.
    The classifier is sized by the checkpoint; a configured ``SeparateBNNecks.class_num`` that
    differs from it is refused under ``strict`` (named as such, not as training ids) and, without
    it, kept (the classifier is then left as built)."""
    from opengait.modeling.registry import build_model
    state = load_checkpoint(path, model_cfg, strict)
    classes = state["num_classes"] or 1
    configured = (model_cfg.get("SeparateBNNecks") or {}).get("class_num")
    if configured is not None and state["num_classes"] and int(configured) != classes:
        if strict:
            raise CheckpointError(f"{path}: the checkpoint's classifier has {classes} classes, but "
                                  f"model_cfg.SeparateBNNecks.class_num is {configured} (set it to {classes}, or "
                                  "restore_ckpt_strict: false to load the other weights)")
        classes = int(configured)
    model = build_model(model_cfg, classes)
    load_model_weights(model, state, path, strict)
    return model, state

