"""Literal forward passes of OpenGait's DeepGaitV2 and GaitGraph2 in eval mode, written here
with torch.nn.functional from the architectures' definitions, on a state dict carrying
OpenGait's parameter names. They call nothing of this project: the tests load the same weights
through our checkpoint path into our models and compare embeddings."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

KEYS = json.loads((Path(__file__).parent / "opengait_state_dict_keys.json").read_text())


def random_opengait_state(family: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights and BatchNorm statistics for every name OpenGait's model has (the names
    and shapes read off it, tests/opengait_state_dict_keys.json); convolutions and linears are
    scaled by 1/sqrt(fan-in) so activations stay of order one through deep stacks."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in KEYS[family]:
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(5)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=g) + 0.5
        elif name.endswith(("running_mean", ".bias")):
            state[name] = torch.randn(shape, generator=g) * 0.1
        elif name.endswith(".A"):                 # GaitGraph2's adjacency buffers: the graph
            state[name] = torch.tensor(coco_adjacency(), dtype=torch.float32)
        elif name.endswith(".edge"):
            state[name] = 1 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:                     # BatchNorm weights
            state[name] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = int(np.prod(shape[1:])) if not name.endswith("fc_bin") else shape[1]
            state[name] = torch.randn(shape, generator=g) / np.sqrt(fan_in)
    return state


# --- DeepGaitV2 -------------------------------------------------------------------------------

def _bn(x, s, p):
    return F.batch_norm(x, s[p + "running_mean"], s[p + "running_var"], s[p + "weight"], s[p + "bias"],
                        False, 0.0, 1e-5)


def _frames(x):          # (n, c, s, h, w) -> (n*s, c, h, w)
    n, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(n * t, c, h, w), (n, t)


def _sequences(y, nt):
    n, t = nt
    return y.reshape(n, t, *y.shape[1:]).transpose(1, 2)


def _block2d(x, s, p, stride):
    out = F.relu(_bn(F.conv2d(x, s[p + "conv1.weight"], stride=stride, padding=1), s, p + "bn1."))
    out = _bn(F.conv2d(out, s[p + "conv2.weight"], padding=1), s, p + "bn2.")
    if p + "downsample.0.weight" in s:
        x = _bn(F.conv2d(x, s[p + "downsample.0.weight"], stride=stride), s, p + "downsample.1.")
    return F.relu(out + x)


def _block_p3d(x, s, p, stride):
    f, nt = _frames(x)
    out = F.relu(_bn(F.conv2d(f, s[p + "conv1.forward_block.0.weight"], stride=stride, padding=1), s,
                     p + "conv1.forward_block.1."))
    out = _sequences(out, nt)
    temporal = _bn(F.conv3d(out, s[p + "shortcut3d.weight"], padding=(1, 0, 0)), s, p + "sbn.")
    out = F.relu(out + temporal)
    f, nt = _frames(out)
    out = _sequences(_bn(F.conv2d(f, s[p + "conv2.forward_block.0.weight"], padding=1), s,
                         p + "conv2.forward_block.1."), nt)
    if p + "downsample.0.weight" in s:
        x = _bn(F.conv3d(x, s[p + "downsample.0.weight"], stride=(1, stride, stride)), s, p + "downsample.1.")
    return F.relu(out + x)


def _block3d(x, s, p, stride):
    out = F.relu(_bn(F.conv3d(x, s[p + "conv1.weight"], stride=(1, stride, stride), padding=1), s, p + "bn1."))
    out = _bn(F.conv3d(out, s[p + "conv2.weight"], padding=1), s, p + "bn2.")
    if p + "downsample.0.weight" in s:
        x = _bn(F.conv3d(x, s[p + "downsample.0.weight"], stride=(1, stride, stride)), s, p + "downsample.1.")
    return F.relu(out + x)


def deepgaitv2_forward(s: dict, x: torch.Tensor, mode: str, layers, use_emb2: bool) -> torch.Tensor:
    """x: (N, C_in, S, H, W) -> the inference embedding (N, 256, 16) of one unpadded batch."""
    f, nt = _frames(x)
    f = F.relu(_bn(F.conv2d(f, s["layer0.forward_block.0.weight"], padding=1), s, "layer0.forward_block.1."))
    for b in range(layers[0]):
        f = _block2d(f, s, f"layer1.forward_block.{b}.", 1)
    x = _sequences(f, nt)
    for layer, stride in zip((2, 3, 4), (2, 2, 1)):
        for b in range(layers[layer - 1]):
            st = stride if b == 0 else 1
            if mode == "2d":
                f, nt = _frames(x)
                x = _sequences(_block2d(f, s, f"layer{layer}.forward_block.{b}.", st), nt)
            elif mode == "p3d":
                x = _block_p3d(x, s, f"layer{layer}.{b}.", st)
            else:
                x = _block3d(x, s, f"layer{layer}.{b}.", st)
    x = x.max(dim=2).values                                        # temporal max
    n, c = x.shape[:2]
    strips = x.reshape(n, c, 16, -1)
    feat = strips.mean(-1) + strips.max(-1).values                 # (n, c, 16)
    embed_1 = torch.einsum("ncp,pcd->ndp", feat, s["FCs.fc_bin"])
    if not use_emb2:
        return embed_1
    flat = F.batch_norm(embed_1.reshape(n, -1), s["BNNecks.bn1d.running_mean"], s["BNNecks.bn1d.running_var"],
                        s["BNNecks.bn1d.weight"], s["BNNecks.bn1d.bias"], False, 0.0, 1e-5)
    return F.normalize(flat.reshape(embed_1.shape), dim=1)


# --- GaitGraph2 -------------------------------------------------------------------------------

COCO_LINKS = [(0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10),
              (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16)]


def coco_adjacency(max_hop: int = 3) -> np.ndarray:
    """ST-GCN's hop partition of the COCO-17 graph by breadth-first search: slice k marks the
    joint pairs k hops apart, each column divided by how many joints lie within max_hop."""
    neighbours = {j: set() for j in range(17)}
    for a, b in COCO_LINKS:
        neighbours[a].add(b)
        neighbours[b].add(a)
    hops = np.full((17, 17), np.inf)
    for start in range(17):
        hops[start, start], frontier, d = 0, [start], 0
        while frontier and d < max_hop:
            d += 1
            nxt = [m for j in frontier for m in neighbours[j] if np.isinf(hops[start, m])]
            for m in nxt:
                hops[start, m] = d
            frontier = nxt
    within = np.isfinite(hops)
    out = np.zeros((max_hop + 1, 17, 17))
    for i in range(17):
        for j in range(17):
            if within[i, j]:
                out[int(hops[i, j]), i, j] = 1.0 / within[:, j].sum()
    return out


def _conv(x, s, p, stride=1, padding=0):
    return F.conv2d(x, s[p + "weight"], s[p + "bias"], stride=(stride, 1), padding=padding)


def _graph_conv(x, s, p, A):
    y = _conv(x, s, p + "gcn.")
    n, kc, t, v = y.shape
    y = y.view(n, 3, kc // 3, t, v)
    return torch.einsum("nkctv,kvw->nctw", y, A[:3])


def _gcn_module(x, s, p, A, kind, stride, first_of_main):
    """One ResGCN module (spatial block, temporal block) of kind initial / Bottleneck."""
    A = A * s[p + "edge"]
    if kind == "initial":       # no residuals
        y = F.relu(_bn(_graph_conv(x, s, p + "scn.conv.", A), s, p + "scn.bn."))
        return F.relu(_bn(_conv(y, s, p + "tcn.conv.", padding=(4, 0)), s, p + "tcn.bn."))
    res = _bn(_conv(x, s, p + "scn.residual.0."), s, p + "scn.residual.1.") if p + "scn.residual.0.weight" in s else x
    y = F.relu(_bn(_conv(x, s, p + "scn.conv_down."), s, p + "scn.bn_down."))
    y = F.relu(_bn(_graph_conv(y, s, p + "scn.conv.", A), s, p + "scn.bn."))
    y = F.relu(_bn(_conv(y, s, p + "scn.conv_up."), s, p + "scn.bn_up.") + res)
    halve = first_of_main or stride == 2                 # temporal stride 2, projected residual
    res = _bn(_conv(y, s, p + "tcn.residual.0.", stride=2), s, p + "tcn.residual.1.") if halve else y
    z = F.relu(_bn(_conv(y, s, p + "tcn.conv_down."), s, p + "tcn.bn_down."))
    z = F.relu(_bn(_conv(z, s, p + "tcn.conv.", stride=2 if halve else 1, padding=(4, 0)), s, p + "tcn.bn."))
    return F.relu(_bn(_conv(z, s, p + "tcn.conv_up."), s, p + "tcn.bn_up.") + res)


def resgcn_forward(s: dict, x: torch.Tensor, branch: list[int], stream: list[int]) -> torch.Tensor:
    """x: (N, 3 inputs, 5, T, V) -> (N, 128), Bottleneck blocks."""
    A = torch.tensor(coco_adjacency(), dtype=torch.float32)
    heads = []
    for i in range(3):
        p = f"ResGCN.head.{i}."
        h = _bn(x[:, i], s, p + "bn.")
        for j in range(len(branch) - 1):
            h = _gcn_module(h, s, f"{p}layers.{j}.", A, "initial" if j == 0 else "Bottleneck", 1, False)
        heads.append(h)
    y = torch.cat(heads, 1)
    for j in range(len(stream) - 1):
        stride = 1 if j == 0 or stream[j] == stream[j + 1] else 2
        y = _gcn_module(y, s, f"ResGCN.backbone.{j}.", A, "Bottleneck", stride, j == 0)
    return F.linear(y.mean(dim=(2, 3)), s["ResGCN.fcn.weight"], s["ResGCN.fcn.bias"])


def gaitgraph_inputs(pose: np.ndarray) -> np.ndarray:
    """(T, 17, 3) -> (T, 17, 3, 5), the multi-input features entry by entry (OpenGait's layout,
    COCO: centre the nose, bones from connect_joint). Differences are taken in the keypoints'
    own precision, as numpy does on OpenGait's arrays (an angle near 0 or pi is sensitive to it)."""
    connect = [5, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14]
    t_len = len(pose)
    out = np.zeros((t_len, 17, 3, 5))
    for t in range(t_len):
        for v in range(17):
            x, y, c = (float(pose[t, v, k]) for k in range(3))
            out[t, v, 0] = [x, y, c, x - pose[t, 0, 0], y - pose[t, 0, 1]]
            if t < t_len - 2:
                out[t, v, 1] = [pose[t + 1, v, 0] - x, pose[t + 1, v, 1] - y, 0, c, pose[t + 2, v, 1] - y]
            else:
                out[t, v, 1] = [0, 0, 0, c, 0]
            bx, by = pose[t, v, 0] - pose[t, connect[v], 0], pose[t, v, 1] - pose[t, connect[v], 1]
            bx, by = float(bx), float(by)
            length = np.hypot(bx, by) + 0.0001
            out[t, v, 2] = [bx, by, 0, c, np.arccos(by / length)]
    return out
