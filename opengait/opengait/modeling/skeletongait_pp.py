"""SkeletonGait++ (Fan et al., AAAI 2024): silhouettes and skeleton maps in two stems, fused by
an attention gate after the first stage, then pseudo-3D residual stages, temporal max,
horizontal pooling, separate FCs and BNNecks.

Widths are ``32*C, 64*C, 128*C, 256*C``; the published setting is ``blocks [1, 4, 4, 1], C 2``.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from gaitcore.pretreated_io import HEATMAP, SILHOUETTE

from gaitcore.errors import ConfigError
from opengait.config_keys import check_kwargs
from opengait.modeling.modules import (AttentionFusion, HorizontalPoolingPyramid,
                                       SeparateBNNecks, SeparateFCs, SetBlockWrapper,
                                       basic2d_layer, checkpoint_stage_set, checkpointed,
                                       conv3x3, frame_mask, init_parameters, p3d_layer,
                                       temporal_max)
from opengait.modeling.registry import class_num, register_model, require_inputs


class SkeletonGaitPPBackbone(nn.Module):
    """(maps (N, 2, S, H, W), sils (N, 1, S, H, W)) -> (N, 256C, S, H/4, W/4).

    ``checkpoint_stages`` (numbers 1-4; stage 1 is both stems and their fusion) keep only each
    block's input for the backward pass and recompute the rest there (activation
    checkpointing)."""

    def __init__(self, blocks=(1, 4, 4, 1), C: float = 2, map_channels: int = 2, checkpoint_stages=()):
        super().__init__()
        self.checkpoint_stages = checkpoint_stage_set(checkpoint_stages, 4, "model_cfg")
        w = self.widths = self.widths_for(C)

        def stem(in_ch):
            return SetBlockWrapper(nn.Sequential(
                conv3x3(in_ch, w[0]), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True),
                basic2d_layer(w[0], w[0], blocks[0], 1)))
        self.sil_stem, self.map_stem = stem(1), stem(map_channels)
        self.fusion = AttentionFusion(w[0])
        self.layer2 = p3d_layer(w[0], w[1], blocks[1], (2, 2))
        self.layer3 = p3d_layer(w[1], w[2], blocks[2], (2, 2))
        self.layer4 = p3d_layer(w[2], w[3], blocks[3], (1, 1))

    @staticmethod
    def widths_for(C: float) -> list[int]:
        return [int(round(32 * C * k)) for k in (1, 2, 4, 8)]

    def forward(self, maps: torch.Tensor, sils: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if 1 in self.checkpoint_stages:      # each stem and the fusion apart: the stage's peak is a third
            x = checkpointed(self.fusion, self.fusion, checkpointed(self.sil_stem, self.sil_stem, sils),
                             checkpointed(self.map_stem, self.map_stem, maps))
        else:
            x = self.fusion(self.sil_stem(sils), self.map_stem(maps))
        for number, layer in enumerate((self.layer2, self.layer3, self.layer4), start=2):
            for block in layer:
                x = checkpointed(block, block, x, mask) if number in self.checkpoint_stages else block(x, mask)
        return x


def add_skeleton_map_trunk(module: nn.Module, blocks, C: float, map_channels: int, checkpoint_stages, bin_num,
                           embed_dim: int | None) -> tuple[int, int, int]:
    """Give ``module`` SkeletonGait++'s trunk -- ``backbone`` (the two stems, their fusion and the
    pseudo-3D stages) and ``hpp`` -- and return (parts, token width, embedding width): the
    embedding is ``embed_dim`` wide, or as wide as the third stage (SkeletonGait++'s choice)."""
    module.backbone = SkeletonGaitPPBackbone(blocks, C, map_channels, checkpoint_stages)
    module.hpp = HorizontalPoolingPyramid(bin_num)
    widths = module.backbone.widths
    return sum(bin_num), widths[3], embed_dim or widths[2]


@register_model("SkeletonGait++", "SkeletonGaitPlusPlus")
class SkeletonGaitPP(nn.Module):
    def __init__(self, num_classes: int, blocks=(1, 4, 4, 1), C: float = 2, bin_num=(16,),
                 embed_dim: int | None = None, map_channels: int = 2, checkpoint_stages=()):
        super().__init__()
        self.num_classes = num_classes
        parts, top, embed_dim = add_skeleton_map_trunk(self, blocks, C, map_channels, checkpoint_stages, bin_num,
                                                       embed_dim)
        self.fcs = SeparateFCs(parts, top, embed_dim)
        self.bnnecks = SeparateBNNecks(parts, embed_dim, num_classes)
        init_parameters(self)

    @classmethod
    def from_config(cls, cfg: dict, num_classes: int) -> dict:
        return skeletongait_kwargs(cfg, num_classes, "SkeletonGaitPP")

    @classmethod
    def input_modalities(cls, cfg: dict) -> tuple[str, ...]:
        return (HEATMAP, SILHOUETTE)

    def visual_features(self, inputs: dict, lengths: torch.Tensor | None) -> torch.Tensor:
        return skeleton_map_features(self.backbone, inputs, lengths, type(self).__name__)

    def forward(self, inputs: dict, lengths: torch.Tensor | None = None,
                frames: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> dict:
        feat = self.visual_features(inputs, lengths)
        embed = self.fcs(self.hpp(feat))
        _, logits = self.bnnecks(embed)
        return {"training_feat": {"triplet": {"embeddings": embed, "labels": labels},
                                  "softmax": {"logits": logits, "labels": labels}},
                "visual_summary": {"image/sils": inputs[SILHOUETTE][:, :1]},
                "inference_feat": {"embeddings": embed}}


def skeleton_map_features(backbone: SkeletonGaitPPBackbone, inputs: dict, lengths: torch.Tensor | None,
                          model: str) -> torch.Tensor:
    """Skeleton maps + silhouettes through the backbone, max over the real frames: (N, C, h, w)."""
    require_inputs(inputs, (HEATMAP, SILHOUETTE), model)
    maps = inputs[HEATMAP].transpose(1, 2)                           # (N, 2, S, H, W)
    sils = inputs[SILHOUETTE].unsqueeze(1)                           # (N, 1, S, H, W)
    if maps.shape[-1] != sils.shape[-1]:                             # uncut 64-wide maps
        cut = (maps.shape[-1] - sils.shape[-1]) // 2
        maps = maps[..., cut:cut + sils.shape[-1]]
    mask = frame_mask(lengths, sils.shape[2], sils.device)
    return temporal_max(backbone(maps, sils, mask), lengths)


def skeletongait_kwargs(cfg: dict, num_classes: int, model: str, extra_keys=()) -> dict:
    """OpenGait's SkeletonGait++ schema (Backbone, SeparateFCs, SeparateBNNecks, bin_num) as
    keyword arguments, plus ``extra_keys`` passed through. Sizes that OpenGait derives from
    ``C`` may be written out; they must then agree with it."""
    check_kwargs(model, cfg, ["model", "Backbone", "SeparateFCs", "SeparateBNNecks", "bin_num",
                              "checkpoint_stages", *extra_keys], "model_cfg")
    bb = dict(cfg.get("Backbone") or {})
    check_kwargs("Backbone", bb, ["in_channels", "blocks", "C"], "model_cfg.Backbone")
    necks = dict(cfg.get("SeparateBNNecks") or {})
    check_kwargs("SeparateBNNecks", necks, ["class_num", "in_channels", "parts_num"], "model_cfg")
    fcs = dict(cfg.get("SeparateFCs") or {})
    check_kwargs("SeparateFCs", fcs, ["in_channels", "out_channels", "parts_num"], "model_cfg")
    C = float(bb.get("C", 2))
    widths = SkeletonGaitPPBackbone.widths_for(C)
    bins = tuple(cfg.get("bin_num", (16,)))
    embed = int(fcs.get("out_channels", widths[2]))
    in_channels = int(bb.get("in_channels", 3))
    if in_channels < 2:
        raise ConfigError(f"model_cfg.Backbone.in_channels: {in_channels}; the input is the "
                          "skeleton-map channels plus one silhouette channel (3 for 2 maps)")
    expect = {"SeparateFCs.in_channels": (fcs.get("in_channels"), widths[3]),
              "SeparateFCs.parts_num": (fcs.get("parts_num"), sum(bins)),
              "SeparateBNNecks.in_channels": (necks.get("in_channels"), embed),
              "SeparateBNNecks.parts_num": (necks.get("parts_num"), sum(bins))}
    for key, (given, derived) in expect.items():
        if given is not None and int(given) != derived:
            raise ConfigError(f"model_cfg.{key}: {given}, but the backbone (C {C:g}) and bin_num "
                              f"{list(bins)} give {derived}")
    return {"num_classes": class_num(necks.get("class_num"), num_classes, "model_cfg.SeparateBNNecks"),
            "blocks": tuple(bb.get("blocks", (1, 4, 4, 1))), "C": C, "bin_num": bins,
            "embed_dim": embed, "map_channels": in_channels - 1,
            "checkpoint_stages": tuple(cfg.get("checkpoint_stages") or ()),
            **{k: cfg[k] for k in extra_keys if k in cfg}}
