"""The SCHP human parser (Li et al., "Self-Correction for Human Parsing", TPAMI 2020),
re-implemented so the official LIP / ATR / Pascal checkpoints load.

Architecture (attribute names follow the official state dict): a ResNet-101 with a three-conv
stem and a dilated last stage, a pyramid-pooling context module, an edge branch over three
stages, a decoder that joins context and low-level features, and a fusion head over the
decoder and edge features whose output is the parsing. The official code uses in-place
activated BatchNorm (InPlaceABN): its effective scale is |weight| + eps, and in the heads it is
followed by LeakyReLU(0.01); :class:`ABN` reproduces that with a plain BatchNorm.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

ABN_EPS = 1e-5


class ABN(nn.BatchNorm2d):
    """BatchNorm as InPlaceABN computes it (scale |w| + eps), then LeakyReLU(slope) or nothing."""

    def __init__(self, num_features: int, activation: str = "leaky_relu", slope: float = 0.01):
        super().__init__(num_features, eps=ABN_EPS)
        self.activation, self.slope = activation, slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight.abs() + self.eps,
                         self.bias, self.training, self.momentum, self.eps)
        if self.activation == "leaky_relu":
            return F.leaky_relu(x, self.slope)
        if self.activation != "none":
            raise ValueError(f"unsupported activation {self.activation!r}")
        return x


def plain_bn(channels: int) -> ABN:
    """The backbone's BatchNorm (no activation; ReLUs are separate)."""
    return ABN(channels, activation="none")


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = plain_bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = plain_bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = plain_bn(planes * 4)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


def conv_abn(in_ch: int, out_ch: int, kernel: int = 1, padding: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=padding, bias=False), ABN(out_ch))


class PyramidPooling(nn.Module):
    """Pool to 1, 2, 3 and 6 cells, project, upsample and fuse with the input (PSP)."""

    def __init__(self, in_ch: int = 2048, out_ch: int = 512, sizes=(1, 2, 3, 6)):
        super().__init__()
        self.stages = nn.ModuleList(nn.Sequential(nn.AdaptiveAvgPool2d(s), nn.Conv2d(in_ch, out_ch, 1, bias=False),
                                                  ABN(out_ch)) for s in sizes)
        self.bottleneck = conv_abn(in_ch + len(sizes) * out_ch, out_ch, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        pooled = [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=True) for stage in self.stages]
        return self.bottleneck(torch.cat(pooled + [x], 1))


class EdgeBranch(nn.Module):
    """Edge maps (2 classes) from stages 1-3; also returns their 3 x 256-channel features."""

    def __init__(self, in_ch=(256, 512, 1024), mid: int = 256, out: int = 2):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = (conv_abn(c, mid) for c in in_ch)
        self.conv4 = nn.Conv2d(mid, out, 3, padding=1, bias=True)
        self.conv5 = nn.Conv2d(out * 3, out, 1, bias=True)

    def forward(self, x1, x2, x3):
        size = x1.shape[2:]
        feats = [self.conv1(x1), self.conv2(x2), self.conv3(x3)]
        edges = [self.conv4(f) for f in feats]

        def up(t):
            return F.interpolate(t, size=size, mode="bilinear", align_corners=True)
        edge = self.conv5(torch.cat([edges[0], up(edges[1]), up(edges[2])], 1))
        return edge, torch.cat([feats[0], up(feats[1]), up(feats[2])], 1)


class ParsingDecoder(nn.Module):
    """Context features (upsampled) + low-level features -> parsing logits and 256-ch features."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.conv1 = conv_abn(512, 256)
        self.conv2 = conv_abn(256, 48)
        self.conv3 = nn.Sequential(nn.Conv2d(304, 256, 1, bias=False), ABN(256),
                                   nn.Conv2d(256, 256, 1, bias=False), ABN(256))
        self.conv4 = nn.Conv2d(256, num_classes, 1, bias=True)

    def forward(self, context, low):
        context = F.interpolate(self.conv1(context), size=low.shape[2:], mode="bilinear", align_corners=True)
        x = self.conv3(torch.cat([context, self.conv2(low)], 1))
        return self.conv4(x), x


class SCHPParser(nn.Module):
    """Input (N, 3, H, W) normalised BGR; output parsing logits at H/4 x W/4 (the fusion head)."""

    def __init__(self, num_classes: int = 20, layers=(3, 4, 23, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = plain_bn(64)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.bn2 = plain_bn(64)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1, bias=False)
        self.bn3 = plain_bn(128)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.inplanes = 128
        self.layer1 = self._stage(64, layers[0])
        self.layer2 = self._stage(128, layers[1], stride=2)
        self.layer3 = self._stage(256, layers[2], stride=2)
        self.layer4 = self._stage(512, layers[3], dilation=2)
        self.context_encoding = PyramidPooling(2048, 512)
        self.edge = EdgeBranch()
        self.decoder = ParsingDecoder(num_classes)
        self.fushion = nn.Sequential(nn.Conv2d(1024, 256, 1, bias=False), ABN(256), nn.Dropout2d(0.1),
                                     nn.Conv2d(256, num_classes, 1, bias=True))

    def _stage(self, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                       plain_bn(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, dilation, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x1 = self.layer1(self.maxpool(x))
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        _, parsing_features = self.decoder(self.context_encoding(x4), x1)
        _, edge_features = self.edge(x1, x2, x3)
        return self.fushion(torch.cat([parsing_features, edge_features], 1))


def load_schp_checkpoint(path: str, num_classes: int) -> SCHPParser:
    """An official SCHP ``.pth`` (``{"state_dict": {"module.<name>": tensor}}``, or a bare state
    dict) loaded into :class:`SCHPParser` in eval mode. Loads with ``weights_only=True``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    found = state.get("fushion.3.weight")
    if found is None:
        raise ValueError(f"{path}: not an SCHP checkpoint (no fushion.3.weight)")
    if found.shape[0] != num_classes:
        raise ValueError(f"{path}: a {found.shape[0]}-label checkpoint, but the chosen label set has "
                         f"{num_classes} labels (check --dataset)")
    model = SCHPParser(num_classes)
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(f"{path}: checkpoint does not fit the SCHP network "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.load_state_dict(state, strict=False)
    return model.eval()
