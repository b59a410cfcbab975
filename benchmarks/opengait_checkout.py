"""OpenGait's own model classes from a checkout, for side-by-side benchmarks (never imported by
the product; nothing of OpenGait's is copied here).

OpenGait's ``modeling`` package imports every model and backbone on import (kornia, lightly,
... for the ones we do not compare) and its ``BaseModel`` builds loaders and optimisers and
needs torch.distributed and a GPU. The shim below registers empty stand-ins for the packages
``modeling``, ``modeling.models`` and ``modeling.backbones`` and for ``modeling.base_model``
(``BaseModel`` = a plain ``nn.Module``), so that one model file and what it imports load alone,
and :func:`build` calls the model's own ``build_network(model_cfg)``. Its modules need ``einops``
(``pip install einops``, outside our requirements). GaitGraph2 moves its adjacency with
``.cuda(x.get_device())``; :func:`cpu_cuda_calls` makes that call a no-op for CPU tensors while
a comparison runs.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

MODEL_FILES = {"Baseline": "baseline", "SkeletonGaitPP": "skeletongait++", "DeepGaitV2": "deepgaitv2",
               "GaitGraph2": "gaitgraph2"}


class OpenGaitCheckout:
    def __init__(self, checkout: str | Path):
        self.root = Path(checkout)
        source = self.root / "opengait"
        if not (source / "modeling" / "modules.py").is_file():
            raise FileNotFoundError(f"{self.root}: not an OpenGait checkout (no opengait/modeling/modules.py)")
        if str(source) not in sys.path:
            sys.path.insert(0, str(source))
        for name, sub in (("modeling", ""), ("modeling.models", "models"), ("modeling.backbones", "backbones")):
            if name not in sys.modules:
                package = types.ModuleType(name)
                package.__path__ = [str(source / "modeling" / sub) if sub else str(source / "modeling")]
                sys.modules[name] = package
        if "modeling.base_model" not in sys.modules:
            base = types.ModuleType("modeling.base_model")
            base.BaseModel = type("BaseModel", (nn.Module,), {"get_backbone": _get_backbone})
            sys.modules["modeling.base_model"] = base

    def model_class(self, name: str) -> type:
        module = importlib.import_module(f"modeling.models.{MODEL_FILES[name]}")
        return getattr(module, name)

    def build(self, name: str, model_cfg: dict) -> nn.Module:
        """OpenGait's model ``name`` built by its own ``build_network`` (and its
        ``init_parameters`` where the model has one)."""
        cls = self.model_class(name)
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model.build_network(model_cfg)
        return model

    def transform(self, name: str):
        return getattr(importlib.import_module("data.transform"), name)


BACKBONE_FILES = {"ResNet9": "resnet"}


def _get_backbone(self, backbone_cfg: dict) -> nn.Module:
    """OpenGait's ``BaseModel.get_backbone`` for the backbones compared here: the class named by
    ``type`` with the keys its constructor takes (OpenGait drops the others the same way)."""
    module = importlib.import_module(f"modeling.backbones.{BACKBONE_FILES[backbone_cfg['type']]}")
    cls = getattr(module, backbone_cfg["type"])
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in backbone_cfg.items() if k != "type" and k in accepted})


@contextlib.contextmanager
def cpu_cuda_calls():
    """``tensor.cuda(-1)`` (the device index of a CPU tensor) returns the tensor itself."""
    original = torch.Tensor.cuda

    def cuda(self, device=None, *args, **kwargs):
        if device is None or (isinstance(device, int) and device < 0):
            if not torch.cuda.is_available():
                return self
        return original(self, device, *args, **kwargs)
    torch.Tensor.cuda = cuda
    try:
        yield
    finally:
        torch.Tensor.cuda = original


# --- the models compared: OpenGait's configs, and random weights for a checkpoint ----------------

RESNET9 = {"type": "ResNet9", "block": "BasicBlock", "channels": [64, 128, 256, 512], "layers": [1, 1, 1, 1],
           "strides": [1, 2, 2, 1], "maxpool": False}
P3D = {"mode": "p3d", "in_channels": 1, "layers": [1, 1, 1, 1], "channels": [64, 128, 256, 512]}
GAITGRAPH2 = {"joint_format": "coco", "input_num": 3, "reduction": 8, "block": "Bottleneck",
              "input_branch": [5, 64, 32], "main_stream": [32, 128, 256], "num_class": 128, "tta": True}
MODEL_CASES = [   # (label, OpenGait class, OpenGait model_cfg, our model name, input kind)
    ("GaitBase (Baseline), CASIA-B", "Baseline",
     {"backbone_cfg": RESNET9, "SeparateFCs": {"in_channels": 512, "out_channels": 256, "parts_num": 16},
      "SeparateBNNecks": {"class_num": 74, "in_channels": 256, "parts_num": 16}, "bin_num": [16]}, "Baseline", "sil"),
    ("SkeletonGait++, blocks [1,4,4,1], C 2", "SkeletonGaitPP",
     {"Backbone": {"in_channels": 3, "blocks": [1, 4, 4, 1], "C": 2}, "SeparateBNNecks": {"class_num": 3000}},
     "SkeletonGaitPP", "maps+sil"),
    ("DeepGaitV2 p3d [1,1,1,1], CASIA-B", "DeepGaitV2", {"Backbone": P3D, "SeparateBNNecks": {"class_num": 74}},
     "DeepGaitV2", "sil"),
    ("DeepGaitV2 p3d [1,4,4,1], Gait3D", "DeepGaitV2",
     {"Backbone": {**P3D, "layers": [1, 4, 4, 1]}, "SeparateBNNecks": {"class_num": 3000}}, "DeepGaitV2", "sil"),
    ("DeepGaitV2 2d", "DeepGaitV2", {"Backbone": {**P3D, "mode": "2d"}, "SeparateBNNecks": {"class_num": 74}},
     "DeepGaitV2", "sil"),
    ("DeepGaitV2 3d", "DeepGaitV2", {"Backbone": {**P3D, "mode": "3d"}, "SeparateBNNecks": {"class_num": 74}},
     "DeepGaitV2", "sil"),
    ("SkeletonGait (DeepGaitV2 on maps, use_emb2), CCPG", "DeepGaitV2",
     {"Backbone": {**P3D, "in_channels": 2}, "SeparateBNNecks": {"class_num": 100}, "use_emb2": True},
     "DeepGaitV2", "maps"),
    ("GaitGraph2, CASIA-B (test-time augmentation)", "GaitGraph2", GAITGRAPH2, "GaitGraph2", "pose"),
    ("GaitGraph2, GREW", "GaitGraph2", {**GAITGRAPH2, "reduction": 4, "input_branch": [5, 64, 64, 32],
                                       "main_stream": [32, 128, 128, 128, 256, 256, 256]}, "GaitGraph2", "pose"),
]


def randomize(model, generator) -> None:
    """Random weights and BatchNorm statistics (GaitGraph2's adjacency buffers stay the graph)."""
    for name, value in model.state_dict().items():
        if not value.dtype.is_floating_point or name.endswith(".A"):
            continue
        if name.endswith("running_var"):
            value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
        elif value.ndim <= 1 or name.endswith(".edge"):
            value.copy_((1.0 if name.endswith((".weight", ".edge")) else 0.0)
                        + 0.1 * torch.randn(value.shape, generator=generator))
        else:
            fan_in = value.shape[1] if name.endswith("fc_bin") else int(np.prod(value.shape[1:]))
            value.copy_(torch.randn(value.shape, generator=generator) / np.sqrt(fan_in))
