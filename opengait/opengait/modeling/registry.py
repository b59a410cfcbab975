"""Models by name (:class:`opengait.registry.Registry`): ``@register_model`` where a model is
defined, ``build_model(model_cfg)``.

Each model class has ``from_config(model_cfg, num_classes) -> kwargs`` that turns OpenGait's
``model_cfg`` schema into constructor arguments and names any key it does not know.
"""
from __future__ import annotations

import torch.nn as nn

from opengait.config import ConfigError
from opengait.registry import Registry

# Modules that define models, imported on first lookup.
MODELS = Registry("model", "model_cfg.model", ("opengait.modeling.gaitbase",
                                               "opengait.modeling.skeletongait_pp",
                                               "opengait.modeling.hybridgait"))


def register_model(*aliases: str):
    """Class decorator: register under the class name and any aliases (duplicates are errors)."""
    return MODELS.register(*aliases)


def model_class(name: str) -> type:
    return MODELS.get(name)


def build_model(model_cfg: dict, num_classes: int) -> nn.Module:
    cls = model_class(model_cfg.get("model", ""))
    return cls(**cls.from_config(model_cfg, num_classes))


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
