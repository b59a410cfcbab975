"""DeepGaitV2 (Fan et al., "Exploring Deep Models for Practical Gait Recognition", 2023), as
OpenGait builds it; with skeleton maps as input it is SkeletonGait (Fan et al., AAAI 2024).

    input (N, C_in, S, H, W) -> layer0: conv3x3 + BN + ReLU per frame -> layer1: 2D basic blocks
    -> layer2..4: ``mode`` blocks (2d: per frame; p3d: per frame + a residual 3-frame temporal
    conv; 3d: 3x3x3 convs), stride 2 in height and width at layers 2 and 3 -> max over frames
    -> horizontal pooling (16 strips) -> separate FCs (embedding 1, for the triplet loss)
    -> BNNecks (embedding 2 and cosine logits)

``Backbone.in_channels`` picks the input: 1 reads the silhouettes (``1_sil``), more reads the
skeleton maps (``0_heatmap``, 2 channels here) -- SkeletonGait. ``use_emb2`` embeds with the
BNNeck's output at test time (OpenGait's SkeletonGait configs set it). Parameter names differ
from OpenGait's only where our shared blocks name their parts (mapped on loading, see
``engine/checkpoint.py``); shapes, initialisation and the forward pass are OpenGait's. Keys of
ours: ``bin_num`` (default [16], OpenGait's fixed value; fewer strips for small CPU inputs) and
``checkpoint_stages`` (1 = layer0 + layer1, 2-4 = layer2-4).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from gaitcore.pretreated_io import HEATMAP, SILHOUETTE

from gaitcore.errors import ConfigError
from opengait.config_keys import check_kwargs
from opengait.modeling.modules import (HorizontalPoolingPyramid, PointwiseConv3d, SeparateBNNecks,
                                       SeparateFCs, SetBlockWrapper, basic2d_layer, checkpoint_stage_set,
                                       checkpointed, conv3x3, frame_mask, init_parameters,
                                       p3d_layer, per_frame, temporal_max, zero_padding)
from opengait.modeling.registry import class_num, register_model, require_inputs

MODES = ("2d", "p3d", "3d")


class BasicBlock3D(nn.Module):
    """3D residual block on (N, C, S, H, W): two 3x3x3 convolutions (``stride`` = (1, h, w));
    padded frames are zeroed before each, so they act as the zero padding past a sequence's
    end and never reach real frames."""

    def __init__(self, inplanes: int, planes: int, stride=(1, 1, 1), downsample: nn.Module | None = None):
        super().__init__()
        if stride[0] != 1:
            raise ConfigError(f"BasicBlock3D: temporal stride {stride[0]} is not built (DeepGaitV2 uses 1)")
        self.conv1 = nn.Conv3d(inplanes, planes, 3, stride=tuple(stride), padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(zero_padding(x, mask))))
        out = self.bn2(self.conv2(zero_padding(out, mask)))
        return self.relu(out + identity)


def layer_3d(inplanes: int, planes: int, blocks: int, stride) -> nn.ModuleList:
    stride = (1, *stride)
    downsample = None
    if max(stride) > 1 or inplanes != planes:
        downsample = nn.Sequential(PointwiseConv3d(inplanes, planes, stride), nn.BatchNorm3d(planes))
    return nn.ModuleList([BasicBlock3D(inplanes, planes, stride, downsample)]
                         + [BasicBlock3D(planes, planes) for _ in range(1, blocks)])


def _run_blocks(layer: nn.ModuleList, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    for block in layer:
        x = block(x, mask)
    return x


@register_model()
class DeepGaitV2(nn.Module):
    def __init__(self, num_classes: int, mode: str = "p3d", in_channels: int = 1, layers=(1, 1, 1, 1),
                 channels=(64, 128, 256, 512), bin_num=(16,), use_emb2: bool = False,
                 checkpoint_stages=()):
        super().__init__()
        self.num_classes, self.mode, self.in_channels, self.use_emb2 = num_classes, mode, in_channels, use_emb2
        self.checkpoint_stages = checkpoint_stage_set(checkpoint_stages, 4, "model_cfg")
        c = list(channels)
        self.layer0 = SetBlockWrapper(nn.Sequential(conv3x3(in_channels, c[0]), nn.BatchNorm2d(c[0]),
                                                    nn.ReLU(inplace=True)))
        self.layer1 = SetBlockWrapper(basic2d_layer(c[0], c[0], layers[0], 1))
        stages = []
        for inplanes, planes, blocks, stride in zip(c[:3], c[1:], layers[1:], (2, 2, 1)):
            if mode == "2d":
                stages.append(SetBlockWrapper(basic2d_layer(inplanes, planes, blocks, stride)))
            elif mode == "p3d":
                stages.append(p3d_layer(inplanes, planes, blocks, (stride, stride)))
            else:
                stages.append(layer_3d(inplanes, planes, blocks, (stride, stride)))
        self.layer2, self.layer3, self.layer4 = stages
        parts = sum(bin_num)
        self.hpp = HorizontalPoolingPyramid(bin_num)
        self.fcs = SeparateFCs(parts, c[3], c[2])
        self.bnnecks = SeparateBNNecks(parts, c[2], num_classes)
        init_parameters(self)

    @classmethod
    def from_config(cls, cfg: dict, num_classes: int) -> dict:
        where = "model_cfg"
        check_kwargs("DeepGaitV2", cfg, ["model", "Backbone", "SeparateBNNecks", "use_emb2", "bin_num",
                                         "checkpoint_stages"], where)
        bb = dict(cfg.get("Backbone") or {})
        check_kwargs("Backbone", bb, ["mode", "in_channels", "layers", "channels"], f"{where}.Backbone")
        necks = dict(cfg.get("SeparateBNNecks") or {})
        check_kwargs("SeparateBNNecks", necks, ["class_num"], f"{where}.SeparateBNNecks")
        layers, channels = list(bb.get("layers", (1, 1, 1, 1))), list(bb.get("channels", (64, 128, 256, 512)))
        if len(layers) != 4 or len(channels) != 4 or min(layers) < 1 or min(channels) < 1:
            raise ConfigError(f"{where}.Backbone: layers {layers} and channels {channels} need four "
                              "positive entries each")
        in_channels = int(bb.get("in_channels", 1))
        if in_channels < 1:
            raise ConfigError(f"{where}.Backbone.in_channels: {in_channels}, expected 1 (silhouettes) "
                              "or the skeleton maps' channel count (2)")
        if bb.get("mode", "p3d") not in MODES:
            raise ConfigError(f"{where}.Backbone.mode: {bb.get('mode')!r} is not one of {', '.join(MODES)}")
        use_emb2 = cfg.get("use_emb2", False)
        if not isinstance(use_emb2, bool):
            raise ConfigError(f"{where}.use_emb2: {use_emb2!r}, expected true or false")
        return {"num_classes": class_num(necks.get("class_num"), num_classes, f"{where}.SeparateBNNecks"),
                "mode": bb.get("mode", "p3d"), "in_channels": in_channels, "layers": tuple(layers),
                "channels": tuple(channels), "bin_num": tuple(cfg.get("bin_num", (16,))),
                "use_emb2": use_emb2, "checkpoint_stages": tuple(cfg.get("checkpoint_stages") or ())}

    @classmethod
    def input_modalities(cls, cfg: dict) -> tuple[str, ...]:
        return (SILHOUETTE,) if int((cfg.get("Backbone") or {}).get("in_channels", 1)) == 1 else (HEATMAP,)

    def _input(self, inputs: dict) -> torch.Tensor:
        """(N, C_in, S, H, W) from the silhouettes (in_channels 1) or the skeleton maps."""
        if self.in_channels == 1:
            require_inputs(inputs, (SILHOUETTE,), "DeepGaitV2 (Backbone.in_channels 1: silhouettes)")
            return inputs[SILHOUETTE].unsqueeze(1)
        require_inputs(inputs, (HEATMAP,), f"DeepGaitV2 (Backbone.in_channels {self.in_channels}: skeleton maps)")
        maps = inputs[HEATMAP]
        if maps.shape[2] != self.in_channels:
            raise ConfigError(f"model_cfg.Backbone.in_channels: {self.in_channels}, but the skeleton "
                              f"maps have {maps.shape[2]} channels")
        return maps.transpose(1, 2)

    def forward(self, inputs: dict, lengths: torch.Tensor | None = None,
                frames: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> dict:
        x = sils = self._input(inputs)                                     # (N, C_in, S, H, W)
        mask = frame_mask(lengths, x.shape[2], x.device)
        for number, layer in enumerate((self.layer0, self.layer1, self.layer2, self.layer3, self.layer4)):
            stage = max(1, number)                    # layer0 and layer1 are stage 1
            if stage not in self.checkpoint_stages:
                x = layer(x) if isinstance(layer, SetBlockWrapper) else _run_blocks(layer, x, mask)
            elif isinstance(layer, SetBlockWrapper):  # per frame: each block apart, or the stem
                blocks = layer.block if number else [layer.block]
                for block in blocks:
                    x = checkpointed(block, per_frame, block, x)
            else:
                for block in layer:
                    x = checkpointed(block, block, x, mask)
        feat = temporal_max(x, lengths)                                    # (N, C, h, w)
        embed_1 = self.fcs(self.hpp(feat))                                 # (N, C, P)
        embed_2, logits = self.bnnecks(embed_1)
        return {"training_feat": {"triplet": {"embeddings": embed_1, "labels": labels},
                                  "softmax": {"logits": logits, "labels": labels}},
                "visual_summary": {"image/sils": sils[:, :1, 0]},
                "inference_feat": {"embeddings": embed_2 if self.use_emb2 else embed_1}}
