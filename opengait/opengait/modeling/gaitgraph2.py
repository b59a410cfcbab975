"""GaitGraph2 (Teepe et al., CVPRW 2022), as OpenGait builds it: a keypoint-only model.

    keypoints (N, T, V, 3 inputs, 5) -- joints, velocities, bones (transform GaitGraphMultiInput)
    -> one ResGCN input branch per input (BatchNorm, an 'initial' graph-temporal module, then
       ``block`` modules) -> concatenated -> ResGCN main stream (temporal stride 2 where the width
       grows, and in its first module) -> average over frames and joints -> linear -> embedding
    test time with ``tta``: the embeddings of the sequence, of the sequence played backwards and
    of the sequence with left and right joints swapped, concatenated (N, 3 x D, 1).

A graph-temporal module is a spatial graph convolution (one 1x1 convolution per hop distance
0..2, summed through the adjacency times a learnt per-edge weight) followed by a temporal
convolution over 9 frames; ``Bottleneck`` blocks squeeze the channels by ``reduction`` inside.
Parameter names, shapes and the forward pass are OpenGait's (its checkpoints load unchanged,
with the adjacency buffers of the input branches), with three differences, none of which
changes an output OpenGait can produce: the adjacency follows the input's device (OpenGait
moves it with ``.cuda()``, so it runs on GPUs only), the last main-stream width may differ
from 256 (OpenGait's head is fixed at 256 inputs), and sequences of different lengths in one
batch are run apart (OpenGait tests one sequence at a time).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from gaitcore.pretreated_io import POSE

from gaitcore.errors import ConfigError
from opengait.config_keys import check_kwargs
from opengait.modeling.pose_graph import multi_input_features, skeleton_graph
from opengait.modeling.registry import register_model, require_inputs

BLOCKS = ("initial", "Basic", "Bottleneck")
TEMPORAL_WINDOW, MAX_GRAPH_DISTANCE = 9, 2


def _zero(x: torch.Tensor):
    return 0


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _conv_bn(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """A strided 1x1 convolution (with bias) + BatchNorm: the residual paths' projection."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)), nn.BatchNorm2d(out_channels))


class SpatialGraphConv(nn.Module):
    """(N, C_in, T, V) -> (N, C_out, T, V): one 1x1 convolution per hop distance, mixed over
    the joints by the matching adjacency slice."""

    def __init__(self, in_channels: int, out_channels: int, max_graph_distance: int):
        super().__init__()
        self.s_kernel_size = max_graph_distance + 1
        self.gcn = nn.Conv2d(in_channels, out_channels * self.s_kernel_size, 1)

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        x = self.gcn(x)
        n, kc, t, v = x.shape
        x = x.view(n, self.s_kernel_size, kc // self.s_kernel_size, t, v)
        return torch.einsum("nkctv,kvw->nctw", x, A[:self.s_kernel_size]).contiguous()


class SpatialBasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, max_graph_distance: int, residual: bool):
        super().__init__()
        if not residual:
            self.residual = _zero
        elif in_channels == out_channels:
            self.residual = _identity
        else:
            self.residual = _conv_bn(in_channels, out_channels)
        self.conv = SpatialGraphConv(in_channels, out_channels, max_graph_distance)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x, A)) + self.residual(x))


class SpatialBottleneckBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, max_graph_distance: int, residual: bool,
                 reduction: int):
        super().__init__()
        inter = out_channels // reduction
        if not residual:
            self.residual = _zero
        elif in_channels == out_channels:
            self.residual = _identity
        else:
            self.residual = _conv_bn(in_channels, out_channels)
        self.conv_down, self.bn_down = nn.Conv2d(in_channels, inter, 1), nn.BatchNorm2d(inter)
        self.conv, self.bn = SpatialGraphConv(inter, inter, max_graph_distance), nn.BatchNorm2d(inter)
        self.conv_up, self.bn_up = nn.Conv2d(inter, out_channels, 1), nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        res = self.residual(x)
        x = self.relu(self.bn_down(self.conv_down(x)))
        x = self.relu(self.bn(self.conv(x, A)))
        return self.relu(self.bn_up(self.conv_up(x)) + res)


class TemporalBasicBlock(nn.Module):
    def __init__(self, channels: int, window: int, stride: int, residual: bool):
        super().__init__()
        if not residual:
            self.residual = _zero
        elif stride == 1:
            self.residual = _identity
        else:
            self.residual = _conv_bn(channels, channels, stride)
        self.conv = nn.Conv2d(channels, channels, (window, 1), (stride, 1), ((window - 1) // 2, 0))
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, res_module) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)) + self.residual(x) + res_module)


class TemporalBottleneckBlock(nn.Module):
    """With ``get_res`` (the main stream's first module) the block halves the frames and
    projects its input to match; otherwise it halves them where ``stride`` is not 1."""

    def __init__(self, channels: int, window: int, stride: int, residual: bool, reduction: int,
                 get_res: bool):
        super().__init__()
        inter = channels // reduction
        if get_res or (residual and stride != 1):
            self.residual, stride = _conv_bn(channels, channels, 2), 2
        elif not residual:
            self.residual = _zero
        else:
            self.residual = _identity
        self.conv_down, self.bn_down = nn.Conv2d(channels, inter, 1), nn.BatchNorm2d(inter)
        self.conv = nn.Conv2d(inter, inter, (window, 1), (stride, 1), ((window - 1) // 2, 0))
        self.bn = nn.BatchNorm2d(inter)
        self.conv_up, self.bn_up = nn.Conv2d(inter, channels, 1), nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, res_module) -> torch.Tensor:
        res = self.residual(x)
        x = self.relu(self.bn_down(self.conv_down(x)))
        x = self.relu(self.bn(self.conv(x)))
        return self.relu(self.bn_up(self.conv_up(x)) + res + res_module)


class ResGCNModule(nn.Module):
    """Spatial then temporal block; ``edge`` (learnt, one per adjacency entry) scales the graph."""

    def __init__(self, in_channels: int, out_channels: int, block: str, A: torch.Tensor,
                 stride: int = 1, reduction: int = 4, get_res: bool = False):
        super().__init__()
        module_res, block_res = {"initial": (False, False), "Basic": (True, False),
                                 "Bottleneck": (False, True)}[block]
        if not module_res:
            self.residual = _zero
        elif stride == 1 and in_channels == out_channels:
            self.residual = _identity
        else:
            self.residual = _conv_bn(in_channels, out_channels, stride)
        if block == "Bottleneck":
            self.scn = SpatialBottleneckBlock(in_channels, out_channels, MAX_GRAPH_DISTANCE, block_res, reduction)
            self.tcn = TemporalBottleneckBlock(out_channels, TEMPORAL_WINDOW, stride, block_res, reduction, get_res)
        else:
            self.scn = SpatialBasicBlock(in_channels, out_channels, MAX_GRAPH_DISTANCE, block_res)
            self.tcn = TemporalBasicBlock(out_channels, TEMPORAL_WINDOW, stride, block_res)
        self.edge = nn.Parameter(torch.ones_like(A))

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        return self.tcn(self.scn(x, A * self.edge), self.residual(x))


class ResGCNInputBranch(nn.Module):
    def __init__(self, input_branch: list[int], block: str, A: torch.Tensor, reduction: int):
        super().__init__()
        self.register_buffer("A", A.clone())         # in OpenGait's state dict
        self.bn = nn.BatchNorm2d(input_branch[0])
        self.layers = nn.ModuleList(
            ResGCNModule(input_branch[i], input_branch[i + 1], "initial" if i == 0 else block, A,
                         reduction=reduction)
            for i in range(len(input_branch) - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(x)
        for layer in self.layers:
            x = layer(x, self.A)
        return x


class ResGCN(nn.Module):
    """(N, I inputs, C, T, V) -> (N, embed_dim)."""

    def __init__(self, input_num: int, input_branch: list[int], main_stream: list[int], embed_dim: int,
                 reduction: int, block: str, A: torch.Tensor):
        super().__init__()
        self.register_buffer("graph", A.clone(), persistent=False)   # (not in OpenGait's state dict)
        self.head = nn.ModuleList(ResGCNInputBranch(input_branch, block, A, reduction)
                                  for _ in range(input_num))
        stream = []
        for i in range(len(main_stream) - 1):
            if i == 0:
                stream.append(ResGCNModule(main_stream[0] * input_num, main_stream[1], block, A,
                                           stride=1, reduction=reduction, get_res=True))
            else:
                stride = 1 if main_stream[i] == main_stream[i + 1] else 2
                stream.append(ResGCNModule(main_stream[i], main_stream[i + 1], block, A, stride=stride,
                                           reduction=reduction))
        self.backbone = nn.ModuleList(stream)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.fcn = nn.Linear(main_stream[-1], embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([branch(x[:, i]) for i, branch in enumerate(self.head)], dim=1)
        for layer in self.backbone:
            x = layer(x, self.graph)
        return self.fcn(self.global_pooling(x).flatten(1))


@register_model()
class GaitGraph2(nn.Module):
    def __init__(self, num_classes: int, joint_format: str = "coco", input_num: int = 3,
                 reduction: int = 8, block: str = "Bottleneck", input_branch=(5, 64, 32),
                 main_stream=(32, 128, 256), embed_dim: int = 128, tta: bool = True):
        super().__init__()
        self.num_classes = num_classes            # (no classifier: the loss is supervised contrastive)
        self.graph = skeleton_graph(joint_format, max_hop=3, where="model_cfg.joint_format")
        self.tta = tta
        A = torch.tensor(self.graph.adjacency, dtype=torch.float32)
        self.ResGCN = ResGCN(input_num, list(input_branch), list(main_stream), embed_dim, reduction, block, A)

    @classmethod
    def from_config(cls, cfg: dict, num_classes: int) -> dict:
        where = "model_cfg"
        check_kwargs("GaitGraph2", cfg, ["model", "joint_format", "input_num", "reduction", "block",
                                         "input_branch", "main_stream", "num_class", "tta"], where)
        block = cfg.get("block", "Bottleneck")
        if block not in BLOCKS:
            raise ConfigError(f"{where}.block: {block!r} is not one of {', '.join(BLOCKS)}")
        input_num, branch = int(cfg.get("input_num", 3)), list(cfg.get("input_branch", (5, 64, 32)))
        stream = list(cfg.get("main_stream", (32, 128, 256)))
        if input_num != 3:
            raise ConfigError(f"{where}.input_num: {input_num}; GaitGraphMultiInput makes 3 inputs "
                              "(joints, velocities, bones)")
        if len(branch) < 2 or len(stream) < 2 or branch[-1] != stream[0]:
            raise ConfigError(f"{where}: input_branch {branch} and main_stream {stream} need two widths "
                              "each, and the branches' last width must be the main stream's first")
        if branch[0] != 5:
            raise ConfigError(f"{where}.input_branch[0]: {branch[0]}; each input has 5 channels "
                              "(x, y, confidence and two derived ones)")
        reduction = int(cfg.get("reduction", 8))
        if block == "Bottleneck" and any(w // reduction < 1 for w in branch[2:] + stream[1:]):
            raise ConfigError(f"{where}.reduction: {reduction} leaves no channels inside a Bottleneck "
                              f"block of widths {branch[2:] + stream[1:]}")
        return {"num_classes": num_classes, "joint_format": cfg.get("joint_format", "coco"),
                "input_num": input_num, "reduction": reduction, "block": block,
                "input_branch": branch, "main_stream": stream,
                "embed_dim": int(cfg.get("num_class", 128)), "tta": bool(cfg.get("tta", True))}

    @classmethod
    def input_modalities(cls, cfg: dict) -> tuple[str, ...]:
        return (POSE,)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, V, I, C) multi-input keypoints -> (N, D), or (N, 3D) with test-time
        augmentation in eval mode."""
        n = x.shape[0]
        if not self.training and self.tta:
            reverse = multi_input_features(x[:, :, :, 0, :3].flip(1), self.graph)
            swapped = multi_input_features(x[:, :, list(self.graph.flip_index), 0, :3], self.graph)
            x = torch.cat([x, reverse.to(x.dtype), swapped.to(x.dtype)])
        feat = self.ResGCN(x.permute(0, 3, 4, 1, 2).contiguous())           # (N', D)
        if not self.training and self.tta:
            # [plain | reversed | swapped] rows -> one row of three: (3N, D) -> (N, 3D)
            feat = feat.view(3, n, -1).transpose(0, 1).reshape(n, -1)
        return feat

    def forward(self, inputs: dict, lengths: torch.Tensor | None = None,
                frames: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> dict:
        require_inputs(inputs, (POSE,), "GaitGraph2")
        x = inputs[POSE]
        if x.ndim != 5 or x.shape[3] != 3:
            raise ConfigError(f"GaitGraph2 needs the multi-input keypoints (N, T, V, 3, 5) of the "
                              f"GaitGraphMultiInput transform; got {tuple(x.shape)} (add it last to "
                              "trainer_cfg.transform and evaluator_cfg.transform)")
        if lengths is None or bool((lengths == x.shape[1]).all()):
            feat = self.embed(x)
        else:                      # each length apart: padded frames never enter the convolutions
            feat = x.new_empty(0)
            for length in lengths.unique().tolist():
                rows = (lengths == length).nonzero(as_tuple=True)[0]
                part = self.embed(x[rows, :length])
                if feat.numel() == 0:
                    feat = x.new_zeros((x.shape[0], part.shape[1]))
                feat[rows] = part.to(feat.dtype)
        return {"training_feat": {"SupConLoss": {"features": feat, "labels": labels}},
                "visual_summary": {},
                "inference_feat": {"embeddings": feat.unsqueeze(-1)}}
