"""Models by name (:class:`opengait.registry.Registry`): ``@register_model`` where a model is
defined, ``build_model(model_cfg)``.

Each model class has ``from_config(model_cfg, num_classes) -> kwargs`` that turns OpenGait's
``model_cfg`` schema into constructor arguments and names any key it does not know.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from gaitcore.errors import ConfigError
from opengait.registry import Registry

# Modules that define models, imported on first lookup.
MODELS = Registry("model", "model_cfg.model", ("opengait.modeling.gaitbase",
                                               "opengait.modeling.skeletongait_pp",
                                               "opengait.modeling.hybridgait",
                                               "opengait.modeling.deepgaitv2",
                                               "opengait.modeling.gaitgraph2"))


def register_model(*aliases: str):
    """Class decorator: register under the class name and any aliases (duplicates are errors)."""
    return MODELS.register(*aliases)


def model_class(name: str) -> type:
    return MODELS.get(name)


def model_inputs(model_cfg: dict) -> tuple[str, ...] | None:
    """The modalities (``0_heatmap``, ``1_sil``, ``2_pose``) the configured model reads: what
    the loader reads when ``data_cfg.data_in_use`` is not set (None: every file)."""
    cls = model_class(model_cfg.get("model", ""))
    reads = getattr(cls, "input_modalities", None)
    return None if reads is None else tuple(reads(model_cfg))


# model_cfg keys that change how a model runs, not its weights: a checkpoint saved with other
# values loads under restore_ckpt_strict.
RUNTIME_KEYS = ("checkpoint_stages", "channels_last")


def check_model_config(model_cfg: dict) -> None:
    """The model's schema, checked when the config is loaded (``opengait.config.load_config``):
    its name, ``channels_last``, and every key its ``from_config`` reads (with one training id
    as a placeholder: the classifier size is checked against the real ids at build)."""
    cfg = dict(model_cfg)
    channels_last = cfg.pop("channels_last", False)
    if not isinstance(channels_last, bool):
        raise ConfigError(f"model_cfg.channels_last: {channels_last!r}, expected true or false")
    model_class(cfg.get("model", "")).from_config(cfg, 1)


def build_model(model_cfg: dict, num_classes: int) -> nn.Module:
    """The model ``model_cfg`` names (a config checked by :func:`check_model_config`).
    ``channels_last: true`` (any model) stores the 2-D and 3-D convolution weights channels-last
    (NHWC / NDHWC), which cuDNN's tensor-core kernels prefer; the activations follow the
    weights' layout."""
    cfg = dict(model_cfg)
    channels_last = bool(cfg.pop("channels_last", False))
    cls = model_class(cfg.get("model", ""))
    model = cls(**cls.from_config(cfg, num_classes))
    return to_channels_last(model) if channels_last else model


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convolution weights (4-D: channels_last, 5-D: channels_last_3d) re-laid in place; the
    values, names and shapes stay, so checkpoints are interchangeable with the plain layout."""
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    for param in model.parameters():
        if param.ndim in formats:
            param.data = param.data.contiguous(memory_format=formats[param.ndim])
    return model


def class_num(cfg_value, num_classes: int, where: str) -> int:
    """The classifier size: the config's value (checked) or the training set's id count."""
    if cfg_value is None:
        return num_classes
    if int(cfg_value) < num_classes:
        raise ConfigError(f"{where}: class_num {cfg_value} is smaller than the {num_classes} "
                          "training ids")
    return int(cfg_value)


def require_inputs(inputs: dict, names: tuple[str, ...], model: str) -> None:
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ConfigError(f"{model} needs the modalities {', '.join(names)}; the batch has "
                          f"{', '.join(inputs) or 'none'} (check data_cfg.data_in_use)")
