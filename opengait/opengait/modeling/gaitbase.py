"""GaitBase (Fan et al., CVPR 2023; OpenGait's ``Baseline`` with a ResNet-9 backbone).

Per-frame 2D ResNet-9 on silhouettes -> temporal max -> horizontal pooling into 16 parts ->
separate FCs (embeddings for the triplet loss) -> BNNecks (cosine logits for cross-entropy).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from gaitcore.pretreated_io import SILHOUETTE

from gaitcore.errors import ConfigError
from opengait.config_keys import check_kwargs
from opengait.modeling.modules import (HorizontalPoolingPyramid, SeparateBNNecks, SeparateFCs,
                                       SetBlockWrapper, basic2d_layer, checkpoint_stage_set,
                                       checkpointed, conv3x3, init_parameters, temporal_max)
from opengait.modeling.registry import class_num, register_model, require_inputs


class ResNet9(nn.Module):
    """conv3x3 stem + four basic-block stages (no max-pooling by default), one frame at a time.

    ``checkpoint_stages`` (numbers 1-4; stage 1 includes the stem) keep only each block's input
    for the backward pass and recompute the rest there (activation checkpointing)."""

    def __init__(self, in_channels: int = 1, channels=(64, 128, 256, 512), layers=(1, 1, 1, 1),
                 strides=(1, 2, 2, 1), maxpool: bool = False, checkpoint_stages=()):
        super().__init__()
        self.checkpoint_stages = checkpoint_stage_set(checkpoint_stages, len(channels), "model_cfg")
        stem = [conv3x3(in_channels, channels[0]), nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True)]
        if maxpool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        stages, inplanes = [], channels[0]
        for planes, blocks, stride in zip(channels, layers, strides):
            stages.append(basic2d_layer(inplanes, planes, blocks, stride))
            inplanes = planes
        self.body = nn.Sequential(*stem, *stages)         # one Sequential: OpenGait's weight names
        self.stem_len = len(stem)
        self.out_channels = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem, stages = self.body[:self.stem_len], list(self.body)[self.stem_len:]
        x = checkpointed(stem, stem, x) if 1 in self.checkpoint_stages else stem(x)
        for number, stage in enumerate(stages, start=1):
            for block in stage:
                x = checkpointed(block, block, x) if number in self.checkpoint_stages else block(x)
        return x


@register_model("Baseline")
class GaitBase(nn.Module):
    def __init__(self, num_classes: int, channels=(64, 128, 256, 512), layers=(1, 1, 1, 1),
                 strides=(1, 2, 2, 1), maxpool: bool = False, bin_num=(16,), embed_dim: int = 256,
                 checkpoint_stages=()):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = SetBlockWrapper(ResNet9(1, channels, layers, strides, maxpool, checkpoint_stages))
        parts = sum(bin_num)
        self.hpp = HorizontalPoolingPyramid(bin_num)
        self.fcs = SeparateFCs(parts, channels[-1], embed_dim)
        self.bnnecks = SeparateBNNecks(parts, embed_dim, num_classes)
        init_parameters(self)

    @classmethod
    def from_config(cls, cfg: dict, num_classes: int) -> dict:
        where = "model_cfg"
        check_kwargs("GaitBase", cfg, ["model", "backbone_cfg", "SeparateFCs", "SeparateBNNecks",
                                       "bin_num", "checkpoint_stages"], where)
        bb = dict(cfg.get("backbone_cfg") or {})
        check_kwargs("backbone_cfg", bb, ["type", "block", "channels", "layers", "strides",
                                          "maxpool", "in_channel"], f"{where}.backbone_cfg")
        if bb.get("type", "ResNet9") != "ResNet9" or bb.get("block", "BasicBlock") != "BasicBlock":
            raise ConfigError(f"{where}.backbone_cfg: only type ResNet9 with BasicBlock is built here")
        fcs, necks = dict(cfg.get("SeparateFCs") or {}), dict(cfg.get("SeparateBNNecks") or {})
        check_kwargs("SeparateFCs", fcs, ["in_channels", "out_channels", "parts_num", "norm"], where)
        check_kwargs("SeparateBNNecks", necks, ["class_num", "in_channels", "parts_num", "norm",
                                                "parallel_BN1d"], where)
        channels = tuple(bb.get("channels", (64, 128, 256, 512)))
        bins = tuple(cfg.get("bin_num", (16,)))
        if fcs.get("in_channels", channels[-1]) != channels[-1] or fcs.get("parts_num", sum(bins)) != sum(bins):
            raise ConfigError(f"{where}.SeparateFCs: in_channels/parts_num must match the backbone "
                              f"({channels[-1]}) and bin_num ({sum(bins)})")
        return {"num_classes": class_num(necks.get("class_num"), num_classes, f"{where}.SeparateBNNecks"),
                "channels": channels, "layers": tuple(bb.get("layers", (1, 1, 1, 1))),
                "strides": tuple(bb.get("strides", (1, 2, 2, 1))), "maxpool": bool(bb.get("maxpool", False)),
                "bin_num": bins, "embed_dim": int(fcs.get("out_channels", 256)),
                "checkpoint_stages": tuple(cfg.get("checkpoint_stages") or ())}

    @classmethod
    def input_modalities(cls, cfg: dict) -> tuple[str, ...]:
        return (SILHOUETTE,)

    def forward(self, inputs: dict, lengths: torch.Tensor | None = None,
                frames: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> dict:
        require_inputs(inputs, (SILHOUETTE,), "GaitBase")
        sils = inputs[SILHOUETTE].unsqueeze(1)                       # (N, 1, S, H, W)
        feat = temporal_max(self.backbone(sils), lengths)           # (N, C, h, w)
        embed = self.fcs(self.hpp(feat))                             # (N, D, P)
        _, logits = self.bnnecks(embed)                              # (N, classes, P)
        return {"training_feat": {"triplet": {"embeddings": embed, "labels": labels},
                                  "softmax": {"logits": logits, "labels": labels}},
                "visual_summary": {"image/sils": sils[:, :, 0]},
                "inference_feat": {"embeddings": embed}}
