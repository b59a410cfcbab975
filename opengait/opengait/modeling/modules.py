"""Building blocks shared by the gait models (OpenGait's vocabulary, re-implemented).

Tensors of a batch of sequences are ``(N, C, S, H, W)``: batch, channels, frames, height,
width. Sequences of different lengths are zero-padded to a common S; ``lengths`` (N,) says how
many frames are real. Everything that mixes frames (temporal convolutions, temporal pooling)
respects it, so a padded batch gives each sequence the same result as running it alone.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from gaitcore.errors import ConfigError


def conv3x3(in_planes: int, out_planes: int, stride: int | tuple = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int | tuple = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class TemporalConv3d(nn.Conv3d):
    """A temporal-only Conv3d (kernel (k, 1, 1), padding (k//2, 0, 0), stride 1), computed as the
    equal Conv2d over (N, C, S, H*W). Same parameters and state dict as ``nn.Conv3d`` (OpenGait's
    checkpoints load unchanged); on CPU PyTorch sends such kernels to its slow non-oneDNN 3D path,
    which takes 1.4-4x longer (benchmarks/results/train_step_profile.md)."""

    def __init__(self, in_channels: int, out_channels: int, frames: int = 3, bias: bool = False):
        super().__init__(in_channels, out_channels, (frames, 1, 1), padding=(frames // 2, 0, 0), bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, s, h, w = x.shape
        y = F.conv2d(x.reshape(n, c, s, h * w), self.weight.flatten(3), self.bias, padding=(self.padding[0], 0))
        return y.reshape(n, y.shape[1], s, h, w)


class PointwiseConv3d(nn.Conv3d):
    """A 1x1x1 Conv3d with spatial stride (1, h, w), computed on the strided positions only (the
    same numbers: a 1x1 kernel reads nothing else). Same parameters and state dict as
    ``nn.Conv3d``; oneDNN's strided 1x1x1 kernel on CPU takes up to 3x longer."""

    def __init__(self, in_channels: int, out_channels: int, stride=(1, 1, 1)):
        super().__init__(in_channels, out_channels, 1, stride=tuple(stride), bias=False)
        if self.stride[0] != 1:
            raise ValueError(f"PointwiseConv3d: temporal stride {self.stride[0]} is not built")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, sh, sw = self.stride
        if sh > 1 or sw > 1:
            x = x[..., ::sh, ::sw]
        return F.conv3d(x, self.weight, self.bias)


def frame_mask(lengths: torch.Tensor | None, n_frames: int, device) -> torch.Tensor | None:
    """(N, S) bool mask of real frames, or None when every frame is real."""
    if lengths is None or bool((lengths >= n_frames).all()):
        return None
    return torch.arange(n_frames, device=device)[None, :] < lengths.to(device)[:, None]


def zero_padding(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the padded frames of (N, C, S, ...) features."""
    if mask is None:
        return x
    return x * mask.view(mask.shape[0], 1, mask.shape[1], *([1] * (x.ndim - 3))).to(x.dtype)


@contextlib.contextmanager
def _norm_statistics_kept(modules: list[nn.Module]):
    """While a checkpointed block is recomputed in the backward pass, its norms update stand-in
    copies of their running statistics, so the real ones move once per step, as without
    checkpointing (the real tensors are not written, so nothing autograd saved is disturbed)."""
    norms = [m for module in modules for m in module.modules()
             if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats]
    names = ("running_mean", "running_var", "num_batches_tracked")
    real = [(m, [getattr(m, n) for n in names]) for m in norms]
    for m, tensors in real:
        for n, buf in zip(names, tensors):
            setattr(m, n, None if buf is None else buf.clone())
    try:
        yield
    finally:
        for m, tensors in real:
            for n, buf in zip(names, tensors):
                setattr(m, n, buf)


def checkpointed(modules: nn.Module | list[nn.Module], fn: Callable, *args):
    """``fn(*args)``, which runs ``modules``, keeping only its inputs for the backward pass; the
    activations inside are recomputed there (activation checkpointing). Outputs and gradients
    equal the plain call's, and the recomputation leaves the BatchNorm running statistics as the
    first pass set them. Outside training (or without autograd) it is the plain call."""
    modules = [modules] if isinstance(modules, nn.Module) else list(modules)
    if not (modules[0].training and torch.is_grad_enabled()):
        return fn(*args)
    if torch.compiler.is_compiling():
        # torch.compile traces the recomputation into the backward graph itself, where the
        # running statistics are updated once (no stand-ins needed; it cannot take context_fn).
        return checkpoint(fn, *args, use_reentrant=False)
    return checkpoint(fn, *args, use_reentrant=False,
                      context_fn=lambda: (contextlib.nullcontext(), _norm_statistics_kept(modules)))


def checkpoint_stage_set(stages: Iterable[int] | None, n_stages: int, where: str) -> frozenset[int]:
    """``model_cfg.checkpoint_stages`` checked: stage numbers 1..n_stages (may be empty)."""
    stages = list(stages or [])
    bad = [s for s in stages if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= n_stages]
    if bad:
        raise ConfigError(f"{where}.checkpoint_stages: {stages!r}; expected stage numbers from 1 to "
                          f"{n_stages} (e.g. [1, 2, 3]), or [] for none")
    return frozenset(stages)


class SetBlockWrapper(nn.Module):
    """Apply a per-frame 2D block to (N, C, S, H, W): out (N, C', S, H', W')."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return per_frame(self.block, x)


def per_frame(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``block`` on every frame of (N, C, S, H, W): out (N, C', S, H', W')."""
    n, c, s, h, w = x.shape
    y = block(x.transpose(1, 2).reshape(n * s, c, h, w))
    return y.reshape(n, s, *y.shape[1:]).transpose(1, 2).contiguous()


def temporal_max(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Max over the frames that are real: (N, C, S, H, W) -> (N, C, H, W)."""
    mask = frame_mask(lengths, x.shape[2], x.device)
    if mask is not None:
        fill = torch.finfo(x.dtype).min
        x = x.masked_fill(~mask.view(mask.shape[0], 1, mask.shape[1], 1, 1), fill)
    return x.max(dim=2).values


class HorizontalPoolingPyramid(nn.Module):
    """Split H into ``bin_num`` strips and pool each (mean + max): (N, C, H, W) -> (N, C, P)."""

    def __init__(self, bin_num=(16,)):
        super().__init__()
        self.bin_num = list(bin_num)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        feats = []
        for b in self.bin_num:
            z = x.reshape(n, c, b, -1)
            feats.append(z.mean(-1) + z.max(-1).values)
        return torch.cat(feats, dim=-1)


class SeparateFCs(nn.Module):
    """One linear map per part: (N, C_in, P) -> (N, C_out, P)."""

    def __init__(self, parts_num: int, in_channels: int, out_channels: int, norm: bool = False):
        super().__init__()
        self.norm = norm
        self.fc_bin = nn.Parameter(nn.init.xavier_uniform_(torch.zeros(parts_num, in_channels, out_channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.normalize(self.fc_bin, dim=1) if self.norm else self.fc_bin
        return torch.bmm(x.permute(2, 0, 1), weight).permute(1, 2, 0).contiguous()


class SeparateBNNecks(nn.Module):
    """BNNeck per part and cosine classifier: (N, C, P) -> (features (N, C, P), logits
    (N, classes, P)). With ``norm`` the features and class weights are L2-normalised, so logits
    are cosines (scale them in the loss)."""

    def __init__(self, parts_num: int, in_channels: int, class_num: int, norm: bool = True,
                 parallel_BN1d: bool = True):
        super().__init__()
        self.parts_num, self.norm, self.parallel = parts_num, norm, parallel_BN1d
        self.fc_bin = nn.Parameter(nn.init.xavier_uniform_(torch.zeros(parts_num, in_channels, class_num)))
        if parallel_BN1d:
            self.bn1d = nn.BatchNorm1d(in_channels * parts_num)
        else:
            self.bn1d = nn.ModuleList(nn.BatchNorm1d(in_channels) for _ in range(parts_num))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, p = x.shape
        if self.parallel:
            feature = self.bn1d(x.reshape(n, -1)).view(n, c, p)
        else:
            feature = torch.stack([bn(x[..., i]) for i, bn in enumerate(self.bn1d)], dim=-1)
        feature = feature.permute(2, 0, 1)                                  # (P, N, C)
        if self.norm:
            feature = F.normalize(feature, dim=-1)
            logits = torch.bmm(feature, F.normalize(self.fc_bin, dim=1))
        else:
            logits = torch.bmm(feature, self.fc_bin)
        return feature.permute(1, 2, 0).contiguous(), logits.permute(1, 2, 0).contiguous()


class BasicBlock2D(nn.Module):
    """ResNet basic block on single frames."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int | tuple = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(inplanes, planes, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class BasicBlockP3D(nn.Module):
    """Pseudo-3D block on sequences (N, C, S, H, W): a per-frame 3x3 conv, a residual temporal
    conv (3 frames), a second per-frame 3x3 conv, then the block's residual. Padded frames are
    zeroed before the temporal conv, so they never leak into real ones."""

    def __init__(self, inplanes: int, planes: int, stride=(1, 1), downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = SetBlockWrapper(nn.Sequential(conv3x3(inplanes, planes, stride),
                                                   nn.BatchNorm2d(planes), nn.ReLU(inplace=True)))
        self.temporal = TemporalConv3d(planes, planes, 3)
        self.temporal_bn = nn.BatchNorm3d(planes)
        self.conv2 = SetBlockWrapper(nn.Sequential(conv3x3(planes, planes), nn.BatchNorm2d(planes)))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = zero_padding(self.conv1(x), mask)
        out = self.relu(out + self.temporal_bn(self.temporal(out)))
        out = self.conv2(out)
        return self.relu(out + identity)


def p3d_layer(inplanes: int, planes: int, blocks: int, stride) -> nn.ModuleList:
    """``blocks`` P3D blocks; the first changes width/resolution (1x1x1 conv + BN3d shortcut)."""
    stride = tuple(stride) if isinstance(stride, (list, tuple)) else (stride, stride)
    downsample = None
    if stride != (1, 1) or inplanes != planes:
        downsample = nn.Sequential(PointwiseConv3d(inplanes, planes, (1, *stride)), nn.BatchNorm3d(planes))
    layers = [BasicBlockP3D(inplanes, planes, stride, downsample)]
    layers += [BasicBlockP3D(planes, planes) for _ in range(1, blocks)]
    return nn.ModuleList(layers)


def basic2d_layer(inplanes: int, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
    layers = [BasicBlock2D(inplanes, planes, stride, downsample)]
    layers += [BasicBlock2D(planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class AttentionFusion(nn.Module):
    """Fuse two streams (N, C, S, H, W) with per-channel, per-pixel softmax weights over the
    streams, computed from both (squeeze to C // squeeze_ratio channels)."""

    def __init__(self, channels: int, squeeze_ratio: int = 16):
        super().__init__()
        hidden = max(1, channels // squeeze_ratio)
        self.score = SetBlockWrapper(nn.Sequential(
            conv1x1(2 * channels, hidden), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            conv3x3(hidden, hidden), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            conv1x1(hidden, 2 * channels)))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        n, c = a.shape[:2]
        score = self.score(torch.cat([a, b], dim=1))
        weights = score.view(n, 2, c, *score.shape[2:]).softmax(dim=1)
        return a * weights[:, 0] + b * weights[:, 1]


def init_parameters(model: nn.Module) -> None:
    """OpenGait's initialisation: Xavier-uniform convolutions and linears (zero bias), BatchNorm
    weights ~ N(1, 0.02) and zero bias. The part-wise fc_bin parameters keep their own init."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
